"""Every command as a library call: a service takes Settings and returns a record (`as_dict()`).

The CLI parses, calls one service and renders; a web page or the mirror can call the same
services. Long work reports progress through `ProgressFactory` callbacks.
"""
