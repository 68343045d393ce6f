# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bandwatch_global_optspecs
    string join \n c/config= log-format= h/help V/version
end

function __fish_bandwatch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bandwatch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bandwatch_using_subcommand
    set -l cmd (__fish_bandwatch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bandwatch -n "__fish_bandwatch_needs_command" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_needs_command" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "run" -d 'Poll every switch, store, evaluate rules, notify, serve HTTP'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "check" -d 'Check the configuration and the rule files; print a summary'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "demo" -d 'Run the whole job on a simulated fleet, with a scripted storyline'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "query" -d 'Print a stored series'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "report" -d 'The monthly per-customer usage report'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "backtest" -d 'Replay rules over stored history or a CSV file'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "backfill" -d 'Write simulated history for every configured port into an empty store (trials and benchmarks: a daemon that starts with weeks of history)'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "simulate" -d 'Serve a fleet of simulated switches over SNMP'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "import" -d 'Import usage records from CSV'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "silence" -d 'Add, list or remove silences'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh or fish) on stdout'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "man" -d 'Print the man page (roff) on stdout'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "token" -d 'Make an API token for the HTTP listener'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "outbox" -d 'List the notification outbox, or try refused messages again'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "web-hash" -d 'Print the bcrypt hash of a password read from standard input (web configuration)'
complete -c bandwatch -n "__fish_bandwatch_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -l interval -d 'With --once --rates: time between the two polls' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -l once -d 'Poll each switch once, print the samples and exit'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -l json -d 'With --once: print one JSON object per port (default: a text table)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -l rates -d 'With --once: poll twice, --interval apart, to print rates'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand run" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand check" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand check" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand check" -s q -l quiet -d 'Print only errors and warnings, not the summary'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand check" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -l demo-config -d 'The demo\'s configuration (its switches must be the simulator\'s addresses)' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -l data-dir -d 'Data directory (database, outbox): wiped at start. Default `var/demo`, or `var/demo-2`, `-3`, ... while another demo runs in it' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -l listen -d 'HTTP listen address (status page, /metrics). Default 127.0.0.1:9477, or a free port when that one is taken (printed)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -l snmp-listen -d 'UDP address of the first simulated switch (the others on the following ports). Default: a free UDP port for each switch on 127.0.0.1, chosen at start and printed, so that two demos share a machine' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -l speed -d 'Time runs this many times faster: storyline, poll interval (at least 1 s). Between 0.1 and 100' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand demo" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l entity -d 'What to read: `port:SWITCH/PORT`, `product_line:NAME`, `site:NAME`, `switch:NAME` or `customer:ID`' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l metric -d 'in_bps, out_bps, in_pps, out_pps, in_bytes, out_bytes or utilization' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l from -d 'Start: RFC 3339, a date (UTC midnight), `now` or `now-2h`' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l to -d 'End (exclusive), same forms as --from' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l step -d 'Step, e.g. `60s`, `5m`, `1h`; default: at most ~1500 points' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l tier -d 'Read this tier instead of the one picked by span and step' -r -f -a "raw\t'Raw samples (60 s slots for aggregates)'
5m\t'5-minute rollups'
1h\t'1-hour rollups'
1d\t'1-day rollups'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l min-coverage -d 'Steps covered less than this fraction (0..1) are shown as gaps' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l format -d 'Output format' -r -f -a "table\t'Aligned columns for people'
csv\t'`time,<metric>,coverage` with raw numbers'
json\t'One JSON object with the points'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -l measured -d 'Show measured sums instead of coverage-scaled estimates'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand query" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -l month -d 'The month, like `2026-10`, or `current` for the month so far with a projection' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -l format -d 'Output format' -r -f -a "text\t'Aligned plain text'
csv\t'Comma-separated values, one line per customer, product line and site'
json\t'The whole report as JSON'
html\t'A self-contained HTML page safe for mail clients (inline styles, no scripts)'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -l account-manager -d 'Only the customers of this account manager (a route name)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -s o -l output -d 'Write to this file instead of standard output' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -l now -d 'The time taken as now (for `current`; RFC 3339 or `now-2h`)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand report" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -l input -d 'CSV of `series,timestamp,value` rows (ISO-8601 timestamps); `-` reads stdin' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -l rules -d 'Rules folder (default: `rules_dir` of the configuration)' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -l from -d 'Start of stored history to replay: RFC 3339, a date (UTC midnight), `now-7d`' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -l to -d 'End (exclusive) of stored history to replay, same forms as --from' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -l format -d 'Output format' -r -f -a "table\t'Aligned text: alerts, then the summary'
csv\t'CSV on stdout (`series,timestamp,kind,...`, what the NAB scorer reads); summary on stderr'
json\t'One JSON object with `alerts` and `summary`'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backtest" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -l days -d 'Days of history, ending now' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -l step -d 'Time between two backfilled sweeps of a switch (e.g. 5m, 1m, 10s)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -l scenario -d 'Scenario file for the traffic\'s shape (as `bandwatch simulate --scenario`) and its spike, drop and port_down events, their `at` counted from the first backfilled sweep; default: gentle daily traffic, no events' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -l end -d 'When the history ends (RFC 3339, e.g. 2026-11-30T00:00:00Z; default: now), for a history that is the same on every run (a benchmark\'s); not in the future' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -l force -d 'Add the history to a store that already exists (its samples in the same span are replaced by simulated ones)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand backfill" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l switches -d 'Number of switches' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l ports -d 'Ports per switch' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l listen -d 'Address of the first switch; the others follow on the next UDP ports' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l scenario -d 'Scenario file (traffic shape and events); default: gentle daily traffic, no events' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l write-config -d 'Write a bandwatch configuration polling this fleet to FILE, then keep serving' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l interval -d 'Poll interval written into that configuration' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l flows -d 'Export flows of the switches\' traffic to this collector (sFlow v5 and IPFIX, each switch from its own address 127.1.x.y); the written configuration trusts them' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l flow-sampling -d 'sFlow sampling rate (1 in N packets)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l flow-protocol -d 'Flow protocol: sflow, ipfix, or both (even switches sFlow, odd ones IPFIX)' -r -f -a "sflow\t''
ipfix\t''
both\t''"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l flow-ports -d 'Export the flows of the first N ports of each switch only (the uplinks); default all' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l community -d 'v2c community the switches accept' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand simulate" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand import" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand import" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand import" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -f -a "add" -d 'Adds a silence'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -f -a "list" -d 'Lists the silences that have not ended'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -f -a "remove" -d 'Removes a silence'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and not __fish_seen_subcommand_from add list remove help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -l rule -d 'Only this rule (default: every rule)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -l match -d 'Label matcher `LABEL=VALUE` or `LABEL=~REGEX`; repeat for several (all must hold)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -l for -d 'How long it holds, like `2h` or `3d`' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -l reason -d 'Why (shown in `silence list`)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from list" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from list" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from list" -l all -d 'Also the ended ones'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from remove" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from remove" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from help" -f -a "add" -d 'Adds a silence'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists the silences that have not ended'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Removes a silence'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand silence; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand completions" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand completions" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand completions" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand man" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand man" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand man" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and not __fish_seen_subcommand_from new help" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and not __fish_seen_subcommand_from new help" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and not __fish_seen_subcommand_from new help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and not __fish_seen_subcommand_from new help" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and not __fish_seen_subcommand_from new help" -f -a "new" -d 'Makes a token and prints it with the configuration entry to paste'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and not __fish_seen_subcommand_from new help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from new" -l scope -d 'A scope it gets; repeat for several: metrics:read, status:read, report:read, usage:write, silence:write, admin' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from new" -l expires -d 'When it stops working: a date like 2027-06-30 (start of that day, UTC) or an RFC 3339 instant' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from new" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from new" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from new" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from new" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "new" -d 'Makes a token and prints it with the configuration entry to paste'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand token; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and not __fish_seen_subcommand_from list retry help" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and not __fish_seen_subcommand_from list retry help" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and not __fish_seen_subcommand_from list retry help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and not __fish_seen_subcommand_from list retry help" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and not __fish_seen_subcommand_from list retry help" -f -a "list" -d 'Lists messages that are waiting or were refused (with `--all`, the sent ones too)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and not __fish_seen_subcommand_from list retry help" -f -a "retry" -d 'Tries refused and delayed messages again now'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and not __fish_seen_subcommand_from list retry help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from list" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from list" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from list" -l all -d 'Also the messages already sent'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from retry" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from retry" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from retry" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from retry" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from help" -f -a "list" -d 'Lists messages that are waiting or were refused (with `--all`, the sent ones too)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from help" -f -a "retry" -d 'Tries refused and delayed messages again now'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand outbox; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand web-hash" -l cost -d 'bcrypt cost (each step doubles the work of a check; 10 to 14 is usual)' -r
complete -c bandwatch -n "__fish_bandwatch_using_subcommand web-hash" -s c -l config -d 'Configuration file' -r -F
complete -c bandwatch -n "__fish_bandwatch_using_subcommand web-hash" -l log-format -d 'Log format on stderr (the level comes from RUST_LOG, default `info`)' -r -f -a "text\t'Human-readable lines'
json\t'One JSON object per line'"
complete -c bandwatch -n "__fish_bandwatch_using_subcommand web-hash" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand web-hash" -s V -l version -d 'Print version'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "run" -d 'Poll every switch, store, evaluate rules, notify, serve HTTP'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "check" -d 'Check the configuration and the rule files; print a summary'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "demo" -d 'Run the whole job on a simulated fleet, with a scripted storyline'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "query" -d 'Print a stored series'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "report" -d 'The monthly per-customer usage report'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "backtest" -d 'Replay rules over stored history or a CSV file'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "backfill" -d 'Write simulated history for every configured port into an empty store (trials and benchmarks: a daemon that starts with weeks of history)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "simulate" -d 'Serve a fleet of simulated switches over SNMP'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "import" -d 'Import usage records from CSV'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "silence" -d 'Add, list or remove silences'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "completions" -d 'Print a shell completion script (bash, zsh or fish) on stdout'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "man" -d 'Print the man page (roff) on stdout'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "token" -d 'Make an API token for the HTTP listener'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "outbox" -d 'List the notification outbox, or try refused messages again'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "web-hash" -d 'Print the bcrypt hash of a password read from standard input (web configuration)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and not __fish_seen_subcommand_from run check demo query report backtest backfill simulate import silence completions man token outbox web-hash help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and __fish_seen_subcommand_from silence" -f -a "add" -d 'Adds a silence'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and __fish_seen_subcommand_from silence" -f -a "list" -d 'Lists the silences that have not ended'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and __fish_seen_subcommand_from silence" -f -a "remove" -d 'Removes a silence'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and __fish_seen_subcommand_from token" -f -a "new" -d 'Makes a token and prints it with the configuration entry to paste'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and __fish_seen_subcommand_from outbox" -f -a "list" -d 'Lists messages that are waiting or were refused (with `--all`, the sent ones too)'
complete -c bandwatch -n "__fish_bandwatch_using_subcommand help; and __fish_seen_subcommand_from outbox" -f -a "retry" -d 'Tries refused and delayed messages again now'
