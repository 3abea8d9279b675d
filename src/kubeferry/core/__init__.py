"""The rules every part of kubeferry shares, the wrapper included (standard library only).

`skew`, `platforms`, `kuberlr`, `kuberlr_config` and `environment` are on the wrapper's warm
path: they import nothing beyond `os` and `sys` at module level (no re, json, pathlib,
dataclasses or typing).
"""
