"""Fault trials (`make chaos`, `python -m bench.chaos`): kill, freeze, cut and poison the
spine under load, then count accepted inquiries lost and duplicated. See __main__.py.
"""
