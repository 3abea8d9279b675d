"""Run real kubectl and the wrapper inside a namespace of their own (`unshare`), side by side.

    unshare -n python -m tests.support.namespace   < spec.json   # no_proxy: an IP-literal server
    unshare -m python -m tests.support.namespace   < spec.json   # in_cluster: the pod's files

`no_proxy`: inside a new network namespace, 10.250.0.1 is added to its own loopback device (a
non-loopback address no test may reach on the machine itself), an API server listens there and
an HTTP CONNECT proxy on 127.0.0.1; HTTPS_PROXY and NO_PROXY come from the spec.
`in_cluster`: inside a new mount namespace, a tmpfs over /run holds the service account's token
and CA at the fixed path client-go reads, and the API server is KUBERNETES_SERVICE_HOST/PORT.
The result (exit codes, output, each request the server saw, the proxy's tunnels) is printed
as JSON; `run()` is the test side.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.apiserver import NAMESPACE_IP, ApiServer, Pki, kubeconfig
from tests.support.connect_proxy import ConnectProxy

ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _run(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        argv,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def _side_by_side(spec: dict[str, Any], api: ApiServer, env: dict[str, str]) -> dict[str, Any]:
    words = ["version", "-o", "json"]
    direct = _run([spec["kubectl"], *words], env)
    asked = [dataclasses.asdict(r) for r in api.state.log]
    api.state.log.clear()
    wrapped = _run([spec["wrapper"], *words], env)
    return {
        "direct": direct,
        "wrapped": wrapped,
        "kubectl": asked,
        "after": [dataclasses.asdict(r) for r in api.state.log],
    }


def _no_proxy(spec: dict[str, Any], pki: Pki) -> dict[str, Any]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{NAMESPACE_IP}/32", "dev", "lo"], check=True)
    with ApiServer(pki, spec["version"], host=NAMESPACE_IP) as api, ConnectProxy() as proxy:
        api.state.anonymous = True
        config = Path(spec["home"]) / "namespace-kubeconfig"
        kubeconfig(config, {"k": (api.url, {"token": "s3cret"})}, pki, "k")
        env = {
            **spec["env"],
            "KUBECONFIG": str(config),
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": spec["no_proxy"],
        }
        result = _side_by_side(spec, api, env)
        result["tunnels"] = list(proxy.state.targets)
        result["server"] = api.url
    return result


def _in_cluster(spec: dict[str, Any], pki: Pki) -> dict[str, Any]:
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    ACCOUNT.mkdir(parents=True)
    (ACCOUNT / "token").write_text("s3cret")
    (ACCOUNT / "ca.crt").write_bytes(pki.pem("ca.crt"))
    with ApiServer(pki, spec["version"]) as api:
        host, port = api.address.rsplit(":", 1)
        env = {**spec["env"], "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
        result = _side_by_side(spec, api, env)
        result["server"] = api.url
    return result


def main() -> int:
    spec = json.load(sys.stdin)
    pki = Pki(Path(spec["pki"]))
    handler = _no_proxy if spec["mode"] == "no_proxy" else _in_cluster
    print(json.dumps(handler(spec, pki)))
    return 0


def run(mode: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run `main` in a new network (no_proxy) or mount (in_cluster) namespace; its JSON."""
    flag = "-n" if mode == "no_proxy" else "-m"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    done = subprocess.run(
        ["unshare", flag, sys.executable, "-m", "tests.support.namespace"],
        input=json.dumps({**spec, "mode": mode}),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=root,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"namespace run failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout)


if __name__ == "__main__":
    sys.exit(main())
