"""The download engine: resume, retry, verify while streaming, one file over several
connections, `.part` files, disk write-out while a download runs."""
