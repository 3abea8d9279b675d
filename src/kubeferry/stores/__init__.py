"""Where k3s and kubectl live on a machine: the Rancher Desktop cache, the kuberlr folder."""
