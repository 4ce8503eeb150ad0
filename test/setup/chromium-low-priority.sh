#!/bin/sh
# Launches Chromium (TFJS_SAMPLING_CHROMIUM) at a lower CPU priority (see vitest.config.ts).
n="${TFJS_SAMPLING_NICE:-4}"
# Playwright starts the browser in a new session; with the kernel's autogroup scheduling each
# session gets an equal CPU share whatever its processes' nice values, so the session's own
# weight is lowered.
[ -w /proc/self/autogroup ] && echo "$n" > /proc/self/autogroup 2>/dev/null
# Without autogroups, thread nice values decide; as root Chromium would raise its GPU process to
# nice -8, so CAP_SYS_NICE is dropped.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
  exec setpriv --inh-caps=-sys_nice --bounding-set=-sys_nice nice -n "$n" "${TFJS_SAMPLING_CHROMIUM:-/usr/bin/chromium}" "$@"
fi
exec nice -n "$n" "${TFJS_SAMPLING_CHROMIUM:-/usr/bin/chromium}" "$@"
