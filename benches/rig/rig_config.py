#!/usr/bin/env python3
"""Writes a bandwatch configuration for the rig's fleet (../shared/rig): one [[switch]] per
agent and every port attributed by name (swp1..swpP; the last two are uplinks), with the
default rules, as a user would configure the fleet.

    rig_config.py OUT_DIR PORTS REPO [INTERVAL]

LISTEN (default 127.0.0.1:19477) sets the daemon's listener, so two runs can go side by side.
SWITCHES=N configures only the fleet's first N switches (a smaller fleet beside a run on the
whole one).
"""
import os
import sys

out, ports, repo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
interval = sys.argv[4] if len(sys.argv) > 4 else "10s"
rows = [l.rstrip("\n").split("\t") for l in open("/tmp/bandwatch-rig/targets.tsv") if not l.startswith("#")]
rows = rows[:int(os.environ.get("SWITCHES", len(rows)))]
c = ['alias_patterns = ["^Cust: (?P<customer>[A-Za-z0-9_-]+)"]', "",
     "[daemon]", f'listen = "{os.environ.get("LISTEN", "127.0.0.1:19477")}"', f'data_dir = "{out}/var"',
     f'rules_dir = "{repo}/alert-rules"', f'interval = "{interval}"', "",
     "[snmp.default]", 'version = "2c"', 'community = "${RIG_COMMUNITY:-public}"',
     'timeout = "2s"', "retries = 1", "", "[[site]]", 'name = "rig"', "",
     "[[route]]", 'name = "ops"', 'email = ["noc@example.net"]', "",
     "[[route]]", 'name = "sales"', 'email = ["sales@example.net"]', ""]
for name, addr, port, _community, _ns in rows:
    c += ["[[switch]]", f'name = "{name}"', 'site = "rig"', f'address = "{addr}:{port}"', ""]
    for p in range(1, ports + 1):
        role = "uplink" if p > ports - 2 else "server"
        c += ["[[port]]", f'switch = "{name}"', f'name = "swp{p}"', f'role = "{role}"', ""]
open(f"{out}/rig.toml", "w").write("\n".join(c))
