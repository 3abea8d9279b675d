"""Where files go: the Rancher Desktop cache and kuberlr folder (later a k3s node, a mirror)."""
