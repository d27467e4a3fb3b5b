/** The texts `--help` prints, for the whole CLI and for each command. */

export const MAIN_HELP = `spiffe-sidecar: SPIFFE workload identity for unmodified applications

Usage:
  spiffe-sidecar [-config FILE] [-daemon-mode=false]   as spiffe-helper (FILE defaults to ./helper.conf)
  spiffe-sidecar run [-c FILE] [--daemon-mode=false]
  spiffe-sidecar once [-c FILE]
  spiffe-sidecar validate [-c FILE] [--daemon-mode=false]
  spiffe-sidecar inspect --cert FILE [--key FILE] [--bundle FILE] [--at ISO-TIME] [--json]
  spiffe-sidecar inspect --jwt FILE --jwt-bundle FILE --audience AUD [--at ISO-TIME] [--json]
  spiffe-sidecar demo [--dir DIR] [--duration SECONDS]
  spiffe-sidecar -version | -help        (COMMAND --help prints that command's usage)

Commands:
  run       keep the identity files fresh and tell the application (daemon_mode: false = once)
  once      write every output once, then exit 0 (init containers, CI)
  validate  check the configuration as run would, then print it with every default
  demo      run the sidecar against an embedded fake agent, writing into ./demo/
  inspect   check SVID files on disk against the SPIFFE rules and print what they hold

Flags take one dash or two, in any order: -config FILE, --config=FILE and -c FILE are one flag;
-daemon-mode=false, -daemon-mode false and --daemon-mode=0 all turn daemon mode off. Without
-config, ./helper.conf is read, as spiffe-helper does.

Exit codes:
  0  success; inspect: valid; -help and -version
  1  runtime failure (agent refused us, one-shot timeout, cmd cannot start);
     inspect: the identity is invalid (the message names the rule that failed)
  2  usage, configuration or I/O error, a missing configuration file included
     (spiffe-helper exits 1 for a configuration it cannot read, 2 for a bad flag)
  N  run with cmd: the child's own exit status (128+n when a signal ended it)
`;

export const RUN_USAGE = `usage: spiffe-sidecar run [-c FILE] [--daemon-mode=false]

Keeps the identity files of FILE fresh and tells the application. FILE defaults to
./helper.conf; -config FILE and --config=FILE are the same flag. --daemon-mode=false writes
every output once and exits, as spiffe-helper's -daemon-mode=false does.
`;

export const ONCE_USAGE = `usage: spiffe-sidecar once [-c FILE]

Writes every output of FILE once, then exits 0; exits 1 when one_shot_timeout passes first.
FILE defaults to ./helper.conf.
`;

export const VALIDATE_USAGE = `usage: spiffe-sidecar validate [-c FILE] [--daemon-mode=false]

Checks FILE as run would (keys, values, the directories, cmd and exec_hook.cmd on PATH,
health_checks.bind_address) and prints the effective configuration with every default.
Exits 0 when run could start (warnings go to stderr), 2 with one line naming the key when not.
A missing agent socket is only a warning: the agent may start later. FILE defaults to
./helper.conf.
`;

export const DEMO_USAGE = `usage: spiffe-sidecar demo [--dir DIR] [--duration SECONDS]

Runs the sidecar against an embedded fake agent (5 s SVIDs, a federated trust domain),
writing real files into DIR (default ./demo) with a child that prints every reload. Runs
until Ctrl-C, or for SECONDS.
`;
