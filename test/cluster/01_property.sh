#!/bin/bash
# test/cluster/01_property.sh: the property test's histories through a router with four
# partitions (test/cluster/router_property.py, which prints the TAP).

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

/usr/bin/python3 "$REPO_ROOT/test/cluster/router_property.py" "$@"
