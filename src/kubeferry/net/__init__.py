"""The network: the one place that opens sockets (http), downloads, digests."""
