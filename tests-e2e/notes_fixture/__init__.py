"""A small service built only from the shared libs, used by the end-to-end tests of the platform.

It is not part of the suite: it exists to prove the foundation (gateway -> service -> outbox -> NATS
-> consumer in another process) before the real services land, and stays as the template of one.
"""
