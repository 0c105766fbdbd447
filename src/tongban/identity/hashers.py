"""Argon2id with the parameters of QUALITY.md / OWASP: m = 19 MiB, t = 2, p = 1."""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
