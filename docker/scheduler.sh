#!/usr/bin/env bash
# basinlab scheduler — the compose `scheduler` service (no cron daemon needed).
#
# Once a day: when the previous calendar month's report
#   $BASINLAB_REPORTS_DIR/YYYY-MM/basinlab_YYYY-MM.pdf
# does not exist yet, run `basinlab run --month YYYY-MM` (with --demo when BASINLAB_DEMO=1).
# A failed run is logged with its exit code and retried at the next daily check; the runner
# never damages the published warehouse or the last report, so retrying is always safe.
#
# Usage:
#   scheduler.sh                          loop forever: check now, then every BASINLAB_SCHEDULE_SECONDS
#   scheduler.sh --once [--today DATE]    one check (exit code of the run, 0 when nothing to do)
#   scheduler.sh --print-month [--today DATE]
#                                         print the month a check on DATE (YYYY-MM-DD) would report on
#
# Environment:
#   BASINLAB_REPORTS_DIR       reports dir (default /reports)
#   BASINLAB_DEMO              1 = run with --demo (generate the demo inbox for the month first)
#   BASINLAB_DEMO_WELLS        --wells for the demo (default: basinlab's)
#   BASINLAB_DEMO_MONTHS       --months for the demo (default: basinlab's)
#   BASINLAB_SCHEDULE_SECONDS  seconds between checks (default 86400, once a day)
#   BASINLAB_BIN               the basinlab command (default: basinlab on PATH)
set -uo pipefail

REPORTS_DIR="${BASINLAB_REPORTS_DIR:-/reports}"
INTERVAL="${BASINLAB_SCHEDULE_SECONDS:-86400}"
BASINLAB_BIN="${BASINLAB_BIN:-basinlab}"

log() { printf '%s basinlab-scheduler: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
die() { printf 'basinlab-scheduler: error: %s\n' "$*" >&2; exit 2; }

# previous_month YYYY-MM-DD -> YYYY-MM (pure bash: no GNU date arithmetic, testable with any date)
previous_month() {
    local today=$1 y m
    [[ $today =~ ^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$ ]] \
        || die "date must look like YYYY-MM-DD, got '$today'"
    y=$((10#${BASH_REMATCH[1]}))
    m=$((10#${BASH_REMATCH[2]}))
    if ((m == 1)); then
        y=$((y - 1)); m=12
    else
        m=$((m - 1))
    fi
    printf '%04d-%02d\n' "$y" "$m"
}

# check_once TODAY: run the previous month when its PDF is missing; returns the run's exit code
check_once() {
    local month pdf rc args
    month=$(previous_month "$1") || return 2
    pdf="$REPORTS_DIR/$month/basinlab_$month.pdf"
    if [[ -f $pdf ]]; then
        log "report for $month already exists ($pdf); nothing to do"
        return 0
    fi
    args=(run --month "$month")
    if [[ ${BASINLAB_DEMO:-0} == 1 ]]; then
        args+=(--demo)
        [[ -n ${BASINLAB_DEMO_WELLS:-} ]] && args+=(--wells "$BASINLAB_DEMO_WELLS")
        [[ -n ${BASINLAB_DEMO_MONTHS:-} ]] && args+=(--months "$BASINLAB_DEMO_MONTHS")
    fi
    log "no report for $month yet: starting $BASINLAB_BIN ${args[*]}"
    "$BASINLAB_BIN" "${args[@]}"
    rc=$?
    if ((rc == 0)); then
        log "run for $month succeeded: $pdf"
    else
        log "ERROR: run for $month failed (exit $rc); the published warehouse and reports are unchanged; retrying at the next check"
    fi
    return "$rc"
}

mode=loop
today=""
today_given=0
while (($#)); do
    case $1 in
        --once) mode=once ;;
        --print-month) mode=print ;;
        --today) (($# >= 2)) || die "--today needs a date (YYYY-MM-DD)"; today=$2; today_given=1; shift ;;
        --today=*) today=${1#--today=}; today_given=1 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
((today_given)) || today=$(date +%Y-%m-%d)
[[ $INTERVAL =~ ^[1-9][0-9]*$ ]] || die "BASINLAB_SCHEDULE_SECONDS must be a positive whole number, got '$INTERVAL'"

case $mode in
    print)
        previous_month "$today"
        ;;
    once)
        check_once "$today"
        ;;
    loop)
        ((!today_given)) || die "--today is only for --once and --print-month"
        # docker stop sends SIGTERM: stop at once while sleeping. During a run bash waits for it to end
        # (docker kills it after stop_grace_period): a killed run is safe, it only ever writes a build
        # file and publishes it with an atomic rename.
        sleeper=""
        trap 'log "stopping"; kill "$sleeper" 2>/dev/null; exit 0' TERM INT
        log "started: checking every ${INTERVAL}s for the previous month's report in $REPORTS_DIR" \
            "(demo: ${BASINLAB_DEMO:-0})"
        while true; do
            check_once "$(date +%Y-%m-%d)"
            sleep "$INTERVAL" &
            sleeper=$!
            wait "$sleeper"
        done
        ;;
esac
