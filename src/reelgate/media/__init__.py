"""Media helpers over finished video files (previews for the OpenAI surface).

Pure library code: PyAV and Pillow, the error tree, nothing of the store, the services or
the surfaces.  Everything here is CPU bound and synchronous; callers run it in a thread.
"""
