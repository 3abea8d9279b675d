"""The network: the one place that opens sockets (http, the OCI client), downloads, digests."""
