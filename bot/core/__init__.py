"""Pure logic: plain frozen dataclasses in, plain data out, `now` passed in.

Nothing in this package imports discord, aiohttp or aiosqlite (tests/core/test_purity.py checks).
"""
