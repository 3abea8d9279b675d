"""The OCI Distribution client: requests, auth (anonymous, Basic, Bearer), media types."""
