#!/usr/bin/env bash
# Writes docs/api.md from the OpenAPI document of `car serve` (the test
# crates/car-server/tests/api_doc.rs renders it; without
# CAR_API_DOC_WRITE it fails when the file is out of date).
set -euo pipefail
cd "$(dirname "$0")/.."
CAR_API_DOC_WRITE=1 cargo test -q -p car-server --test api_doc
echo "docs/api.md written"
