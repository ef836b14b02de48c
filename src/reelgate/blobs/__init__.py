"""Where the gateway keeps its copies of the videos."""
