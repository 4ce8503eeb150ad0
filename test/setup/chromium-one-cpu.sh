#!/usr/bin/env bash
# Chromium pinned to one CPU (TFJS_SAMPLING_CHROMIUM_CPU, default 0) for the browser test
# projects: SwiftShader (WebGL and WebGPU without a GPU) spins its workers on every CPU it may
# use, which on a 2-core machine mostly burns the core the rest of the suite needs (see
# pinToOneCpu in test/helpers/backend.ts for the measurement).
exec taskset -c "${TFJS_SAMPLING_CHROMIUM_CPU:-0}" "${TFJS_SAMPLING_CHROMIUM_BIN:-/usr/bin/chromium}" "$@"
