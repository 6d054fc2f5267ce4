# Runs before main.py on a board: finish a staged firmware update if one is complete
# (swap.py), and keep the REPL on USB available. Logging starts in main.py.
try:
    import swap
    swap.apply()
except Exception as e:      # noqa: BLE001 - boot must reach main.py
    print("dunelog: swap:", e)
