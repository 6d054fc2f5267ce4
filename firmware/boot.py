# Runs before main.py on a board: nothing to do but keep the REPL on USB available.
# Logging starts in main.py with no host attached.
