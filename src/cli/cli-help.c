/* cli-help.c: the help texts, one table. docs/cli.md is the long form. */
#include "cli-help.h"

#include <string.h>
#include <strings.h>

struct help_entry {
	const char *topic;   /* "endpoint new", or a cmdlet name */
	const char *text;
	bool settings;       /* followed by the settings block */
};

static const char help_settings[] =
	"\n"
	"Settings:\n"
	"  --type imap|exchange-remote|outlook-anywhere\n"
	"  --server HOST                    IMAP server (or Exchange host)\n"
	"  --port N                         default 993 with tls, else 143\n"
	"  --security none|starttls|tls     default tls (implicit TLS)\n"
	"  --auth plain|login|basic|ntlm    default plain (IMAP)\n"
	"  --admin-user USER                administrator who opens every mailbox\n"
	"  --impersonation sasl|master-user default sasl\n"
	"  --master-separator C             default '*'\n"
	"  --[no-]accept-untrusted-certificates\n"
	"  --max-concurrent-migrations N    1-1000, default 20\n"
	"  --max-concurrent-incremental-syncs N\n"
	"                                   1-1000, default 20, not above the former\n"
	"  --exchange-server HOST, --rpc-proxy-server HOST, --email-address ADDR,\n"
	"  --mailbox-permission admin|full-access   (Exchange types)\n"
	"\n"
	"Password of --admin-user (or of --test-mailbox when no --admin-user is given):\n"
	"  --password-stdin                 first line of standard input\n"
	"  --password-file FILE             first line of FILE\n"
	"  (otherwise asked for on a terminal; never taken from the command line)\n";

/* The schedule options, the same for 'batch new' and 'batch set'. */
#define HELP_SCHEDULE_OPTIONS                                                              \
	"  --incremental-interval DURATION\n" \
	"                            time between incremental syncs by 'mailferry\n" \
	"                            serve' (default 24h): SECONDS, or 30m, 24h, 1d\n" \
	"  --sync-deletes            delete on the target what was deleted at the\n" \
	"                            source (default: deletions stay on the target)\n" \
	"  --auto-complete           complete the batch after its first full sync\n" \
	"  --start-after TIME        'mailferry serve' starts it then (if Created)\n" \
	"  --complete-after TIME     'mailferry serve' completes it then (once synced)\n" \
	"                            TIME: now, YYYY-MM-DD (midnight UTC) or RFC 3339\n" \
	"                            (2024-07-01T19:00:00+02:00)\n"

static const struct help_entry help_entries[] = {
	{ "",
	  "usage: mailferry [GLOBAL OPTIONS] NOUN VERB [ARGS] [OPTIONS]\n"
	  "       mailferry [GLOBAL OPTIONS] Cmdlet-Name [-Parameter VALUE ...]\n"
	  "\n"
	  "Commands:\n"
	  "  endpoint new NAME --type TYPE ...   test and store a migration endpoint\n"
	  "  endpoint list                       list the endpoints\n"
	  "  endpoint show NAME                  show one endpoint\n"
	  "  endpoint set NAME ...               change settings (re-tests)\n"
	  "  endpoint remove NAME                delete an endpoint\n"
	  "  endpoint test NAME | --server HOST  run the connection test\n"
	  "  batch new NAME --source EP --csv F  create a migration batch and its users\n"
	  "  batch list                          list the batches\n"
	  "  batch show NAME                     settings, status, user counts, events\n"
	  "  batch set NAME [OPTIONS]            change its schedule and item limits\n"
	  "  batch start NAME [--wait]           queue a batch for serve, or run it here\n"
	  "  batch complete NAME [--wait]        final sync: the batch ends Completed\n"
	  "  batch stop NAME                     stop a running batch\n"
	  "  batch remove NAME                   delete a batch and its users\n"
	  "  batch report NAME                   one row per user (CSV or JSON)\n"
	  "  user list [--batch NAME]            list the migration users\n"
	  "  user show EMAIL                     a user's statistics\n"
	  "  autodiscover EMAIL                  find the server settings for an address\n"
	  "  serve [--once]                      run queued batches and their schedules\n"
	  "  help [COMMAND]                      this help, or a command's\n"
	  "  version                             print the version\n"
	  "\n"
	  "Cmdlets: New-MigrationEndpoint, Get-MigrationEndpoint, Set-MigrationEndpoint,\n"
	  "  Remove-MigrationEndpoint, Test-MigrationServerAvailability, New-MigrationBatch,\n"
	  "  Set-MigrationBatch, Start-MigrationBatch, Complete-MigrationBatch,\n"
	  "  Stop-MigrationBatch, Remove-MigrationBatch, Get-MigrationBatch,\n"
	  "  Get-MigrationUser, Get-MigrationUserStatistics\n"
	  "\n"
	  "Global options (anywhere on the line):\n"
	  "  --data-dir DIR      state directory\n"
	  "  --json              JSON on standard output\n"
	  "  --trace             protocol trace on standard error, credentials redacted\n"
	  "  --dns-server H[:P]  DNS server for lookups (also $MAILFERRY_DNS_SERVER)\n"
	  "  -v, --verbose       more log output (twice: debug)\n"
	  "  -h, --help          help for the command\n",
	  false },
	{ "endpoint",
	  "usage: mailferry endpoint new|list|show|set|remove|test ...\n"
	  "\n"
	  "  endpoint new NAME --type TYPE [SETTINGS] [--skip-verification]\n"
	  "  endpoint list\n"
	  "  endpoint show NAME\n"
	  "  endpoint set NAME [SETTINGS] [--skip-verification]\n"
	  "  endpoint remove NAME\n"
	  "  endpoint test NAME [--test-mailbox USER] [--timeout S]\n"
	  "  endpoint test --server HOST [SETTINGS]\n"
	  "\n"
	  "See 'mailferry endpoint VERB --help'.\n",
	  false },
	{ "endpoint new",
	  "usage: mailferry endpoint new NAME --type TYPE --server HOST [SETTINGS]\n"
	  "                              [--admin-user USER (--password-stdin | --password-file F)]\n"
	  "                              [--skip-verification] [--test-mailbox USER] [--timeout S]\n"
	  "       mailferry endpoint new NAME [--type TYPE] --autodiscover --email-address EMAIL\n"
	  "                              [--allow-untrusted-candidates] [SETTINGS] ...\n"
	  "\n"
	  "Runs the connection test, then stores the endpoint; stores nothing when the\n"
	  "test fails (exit 10-17), unless --skip-verification.\n"
	  "  --skip-verification   store without testing\n"
	  "  --test-mailbox USER   log in as USER in the test (through the administrator)\n"
	  "  --timeout S           seconds allowed per test stage, 1-3600 (default 10)\n"
	  "  --autodiscover        find the settings not given on the line from\n"
	  "                        --email-address first (see 'mailferry autodiscover\n"
	  "                        --help'; the --admin-user password is offered to\n"
	  "                        Exchange Autodiscover); nothing found: exit 30 or 31\n"
	  "  --allow-untrusted-candidates   with --autodiscover: settings that need\n"
	  "                        confirmation may be used\n"
	  "  --protocol imap|exchange|any   with --autodiscover and no --type\n",
	  true },
	{ "endpoint list",
	  "usage: mailferry endpoint list [--json]\n"
	  "\n"
	  "One line per endpoint: Name, Type, Server, Port, Security, LastTest.\n",
	  false },
	{ "endpoint show",
	  "usage: mailferry endpoint show NAME [--json]\n"
	  "\n"
	  "Every setting of the endpoint (the password as ********) and its last test.\n",
	  false },
	{ "endpoint set",
	  "usage: mailferry endpoint set NAME [SETTINGS] [--admin-user USER]\n"
	  "                              [--password-stdin | --password-file F]\n"
	  "                              [--skip-verification] [--test-mailbox USER] [--timeout S]\n"
	  "\n"
	  "Changes the given settings only (not --type), then re-tests unless\n"
	  "--skip-verification; nothing changes when the test fails. A new --admin-user\n"
	  "needs its password; --password-* alone replaces the administrator's password;\n"
	  "--admin-user '' removes the administrator.\n",
	  true },
	{ "endpoint remove",
	  "usage: mailferry endpoint remove NAME\n"
	  "\n"
	  "Deletes the endpoint; refused (exit 4) while a batch uses it.\n",
	  false },
	{ "endpoint test",
	  "usage: mailferry endpoint test NAME [--test-mailbox USER\n"
	  "                              [--password-stdin | --password-file F]] [--timeout S]\n"
	  "       mailferry endpoint test --server HOST [--type imap] [SETTINGS]\n"
	  "                              [--admin-user USER ...] [--test-mailbox USER]\n"
	  "\n"
	  "Stages: dns, connect, tls, greeting, starttls, capability, login, select.\n"
	  "Exit 0 on success, 10-17 for the failing stage, 20 when not yet supported.\n"
	  "Without a password for --test-mailbox, the test logs in through the\n"
	  "endpoint's administrator. The result of a named endpoint is stored.\n"
	  "  --timeout S   seconds allowed per stage, 1-3600 (default 10)\n",
	  true },
	{ "batch",
	  "usage: mailferry batch new|list|show|set|start|complete|stop|remove|report ...\n"
	  "\n"
	  "  batch new NAME --source EP [--target EP|local] --csv FILE [OPTIONS]\n"
	  "  batch list\n"
	  "  batch show NAME\n"
	  "  batch set NAME [OPTIONS]\n"
	  "  batch start NAME [--wait]\n"
	  "  batch complete NAME [--wait]\n"
	  "  batch stop NAME\n"
	  "  batch remove NAME\n"
	  "  batch report NAME [--format csv|json] [--output FILE]\n"
	  "\n"
	  "See 'mailferry batch VERB --help'.\n",
	  false },
	{ "batch new",
	  "usage: mailferry batch new NAME --source EP [--target EP|local] --csv FILE [OPTIONS]\n"
	  "\n"
	  "Checks the CSV whole (every problem is listed with its line) and stores the\n"
	  "batch with its users, Created; a mailbox may be in one batch only.\n"
	  "  --source EP               the source endpoint (type imap)\n"
	  "  --target EP|local         an imap endpoint, or the local store (default)\n"
	  "  --csv FILE                EmailAddress, UserName, Password, and optionally\n"
	  "                            UserRoot, TargetUserName, TargetPassword; '-' reads\n"
	  "                            standard input. UserName and Password may be empty\n"
	  "                            when the source endpoint has an administrator\n"
	  "  --exclude-folder PATH     skip a folder and its subfolders (repeatable;\n"
	  "                            #Inbox#, #SentItems#, #DeletedItems#, #JunkEmail#,\n"
	  "                            #Drafts#, #Archive# name special-use folders)\n"
	  "  --include-folder PATH     copy only these folders and their subfolders\n"
	  "  --bad-item-limit N        messages the target may refuse (default 0; or\n"
	  "                            unlimited)\n"
	  "  --large-item-limit N      messages too large for the target (default 0)\n"
	  "  --max-message-size SIZE   skip larger messages (bytes, or with K, M, G)\n"
	  "  --connections-per-user N  source and target connections per user, each\n"
	  "                            copying other folders at the same time (1-16,\n"
	  "                            default 4; fewer when a server refuses more)\n"
	  "  --received-after DATE     only messages received on or after DATE\n"
	  "                            (YYYY-MM-DD or RFC 3339)\n"
	  "  --auto-start              then run it, as 'batch start NAME --wait'\n"
	  HELP_SCHEDULE_OPTIONS
	  "\n"
	  "With --auto-start the tuning options of 'batch start --wait' apply too.\n",
	  false },
	{ "batch set",
	  "usage: mailferry batch set NAME [OPTIONS]\n"
	  "\n"
	  "Changes the given options of a batch, whatever its status (not while it is\n"
	  "being removed); a running batch picks them up with its next pass. A new\n"
	  "--incremental-interval moves the next incremental sync of the synced users\n"
	  "to now + the interval. Prints the batch as 'batch show' does.\n"
	  HELP_SCHEDULE_OPTIONS
	  "  --connections-per-user N  as for 'batch new'\n"
	  "  --bad-item-limit N, --large-item-limit N   as for 'batch new'; raising one\n"
	  "                            and starting the batch again lets failed users on\n"
	  "  --start-after none, --complete-after none  remove a schedule\n",
	  false },
	{ "batch list",
	  "usage: mailferry batch list [--json]\n"
	  "\n"
	  "One line per batch: Name, Status, Source, Target, Users, Synced, Failed, Created.\n",
	  false },
	{ "batch show",
	  "usage: mailferry batch show NAME [--json]\n"
	  "\n"
	  "The batch's settings, status, users by status and its latest events.\n",
	  false },
	{ "batch start",
	  "usage: mailferry batch start NAME [--wait [TUNING]] [--json]\n"
	  "\n"
	  "Without --wait: queues the batch for 'mailferry serve' (it becomes Syncing, or\n"
	  "IncrementalSyncing when it is synced) and returns; serve must be running.\n"
	  "With --wait: runs it in the foreground, several users at once (the source\n"
	  "endpoint's MaxConcurrentMigrations), with progress on a terminal or one line\n"
	  "per user event otherwise; --json prints the report at the end instead.\n"
	  "Users that are Queued, Failed or Stopped are run; a synced batch gets an\n"
	  "incremental sync. Ctrl-C stops it cleanly (twice: at once).\n"
	  "Exit 0 when the batch ends Synced (or Completed, with --auto-complete), 1\n"
	  "otherwise; 4 when it is run elsewhere or its status does not allow a start.\n"
	  "  --wait   run in the foreground until every user has ended\n"
	  "Tuning:\n"
	  "  --io-timeout DURATION     no byte for this long is a stall (default 30s)\n"
	  "  --reconnects N            reconnects per user run (default 5; 0: none)\n"
	  "  --retry-max DURATION      cap of the reconnect backoff (default 60s)\n"
	  "  --throttle-budget N       throttling answers per user run (default 30; 0:\n"
	  "                            the first one fails the user)\n",
	  false },
	{ "batch complete",
	  "usage: mailferry batch complete NAME [--wait [TUNING]] [--json]\n"
	  "\n"
	  "Completes a synced batch: a final incremental sync of its users, after which\n"
	  "they are Completed (CompletionFailed when it failed) and nothing more is\n"
	  "synced; the batch ends Completed or CompletedWithErrors. Without --wait it is\n"
	  "queued for 'mailferry serve' (the batch becomes Completing). Refused (exit 4)\n"
	  "while users are still Queued or Syncing. A CompletedWithErrors batch can be\n"
	  "completed again (its CompletionFailed users are retried).\n"
	  "Exit 0 when the batch ends Completed, 1 otherwise.\n"
	  "  --wait   run the final sync in the foreground, as 'batch start --wait'\n"
	  "Tuning:\n"
	  "  --io-timeout DURATION     no byte for this long is a stall (default 30s)\n"
	  "  --reconnects N            reconnects per user run (default 5; 0: none)\n"
	  "  --retry-max DURATION      cap of the reconnect backoff (default 60s)\n"
	  "  --throttle-budget N       throttling answers per user run (default 30; 0:\n"
	  "                            the first one fails the user)\n",
	  false },
	{ "batch stop",
	  "usage: mailferry batch stop NAME\n"
	  "\n"
	  "Asks the process running the batch to stop: messages in flight are finished\n"
	  "and recorded, users end Stopped. A batch nobody runs is Stopped at once.\n",
	  false },
	{ "batch remove",
	  "usage: mailferry batch remove NAME\n"
	  "\n"
	  "Deletes the batch, its users and their state; refused (exit 4) while it is\n"
	  "running. Mail already copied is not deleted from the target or local store.\n",
	  false },
	{ "batch report",
	  "usage: mailferry batch report NAME [--format csv|json] [--output FILE]\n"
	  "\n"
	  "One row per user: EmailAddress, Status, TotalItemsInSourceMailboxCount,\n"
	  "SyncedItemCount, SkippedItemCount, BytesTransferred, PercentageComplete,\n"
	  "StartTime, EndTime, LastError.\n"
	  "  --format csv|json   default csv (json with --json)\n"
	  "  --output FILE       write to FILE instead of standard output\n",
	  false },
	{ "user",
	  "usage: mailferry user list|show ...\n"
	  "\n"
	  "  user list [--batch NAME]\n"
	  "  user show EMAIL [--skipped-items]\n",
	  false },
	{ "user list",
	  "usage: mailferry user list [--batch NAME] [--json]\n"
	  "\n"
	  "One line per migration user: EmailAddress, Batch, Status, Items (synced/total),\n"
	  "Skipped, Bytes, %.\n"
	  "  --batch NAME   only the users of this batch\n",
	  false },
	{ "user show",
	  "usage: mailferry user show EMAIL [--skipped-items] [--json]\n"
	  "\n"
	  "The user's statistics (Get-MigrationUserStatistics names).\n"
	  "  --skipped-items   also list each skipped item: folder, date, subject, size,\n"
	  "                    kind (bad or large) and reason\n",
	  false },
	{ "serve",
	  "usage: mailferry serve [--once] [--tick DURATION] [TUNING]\n"
	  "\n"
	  "Runs the scheduler in the foreground (for now only the scheduler: the web\n"
	  "admin center and the REST API come later): batches queued by 'batch start'\n"
	  "and 'batch complete' without --wait, Created batches with --auto-start or\n"
	  "whose --start-after came, incremental syncs every --incremental-interval,\n"
	  "--complete-after and --auto-complete completions, with the endpoints'\n"
	  "MaxConcurrentMigrations and MaxConcurrentIncrementalSyncs as two pools.\n"
	  "One line per event on standard error. SIGTERM or Ctrl-C stops it cleanly:\n"
	  "nothing new starts, users in flight stop between messages and the next serve\n"
	  "resumes them (exit 0); a second signal quits at once (exit 130).\n"
	  "  --once           return when nothing runs and nothing is due (cron, tests)\n"
	  "  --tick DURATION  how often the state is looked at (default 1s; 10ms-1h)\n"
	  "Tuning:\n"
	  "  --io-timeout DURATION     no byte for this long is a stall (default 30s)\n"
	  "  --reconnects N            reconnects per user run (default 5; 0: none)\n"
	  "  --retry-max DURATION      cap of the reconnect backoff (default 60s)\n"
	  "  --throttle-budget N       throttling answers per user run (default 30; 0:\n"
	  "                            the first one fails the user)\n",
	  false },
	{ "autodiscover",
	  "usage: mailferry autodiscover EMAIL [--protocol imap|exchange|any]\n"
	  "                              [--admin-user USER (--password-stdin | --password-file F)]\n"
	  "                              [--allow-untrusted-candidates] [--timeout S]\n"
	  "                              [--dns-server HOST[:PORT]] [--json] [--trace]\n"
	  "\n"
	  "Finds the IMAP or Exchange server of an address: Exchange POX Autodiscover,\n"
	  "Autodiscover v2, Mozilla autoconfig, SRV records (RFC 6186), the MX host's\n"
	  "provider and a last-resort guess, all at once. IMAP servers are checked live\n"
	  "(TLS, greeting, CAPABILITY; no login). Prints the chosen settings, every\n"
	  "candidate with its source and checks, and each source's outcome.\n"
	  "Exit 0 when settings were chosen; 30 when nothing usable was found (the reason\n"
	  "from each source and how to enter the server by hand go to stderr); 31 when\n"
	  "only candidates that need confirmation were found; 2 for a malformed address.\n"
	  "  --protocol P        imap, exchange, or any (default: Exchange when found)\n"
	  "  --admin-user USER   credentials for Exchange POX Autodiscover, sent only over\n"
	  "                      https to a verified host (a password source alone: the\n"
	  "                      address's own password)\n"
	  "  --password-stdin, --password-file F   where that password comes from\n"
	  "  --allow-untrusted-candidates   settings that need confirmation (outside the\n"
	  "                      address's domain, found through an unauthenticated hop, or\n"
	  "                      without TLS) may be chosen\n"
	  "  --timeout S         seconds per request and live check, 1-3600 (default 10);\n"
	  "                      the whole discovery gets 60 s, or 2 x S when longer\n"
	  "  --dns-server H[:P]  resolver for every lookup (also $MAILFERRY_DNS_SERVER)\n"
	  "  --json              the discovery as JSON (docs/autodiscover.md)\n"
	  "  --trace             every DNS query, URL and live check with its outcome on\n"
	  "                      stderr; never a credential\n",
	  false },
	{ "help", "usage: mailferry help [COMMAND | Cmdlet-Name]\n", false },
	{ "version", "usage: mailferry version [--json]\n", false },
	{ "New-MigrationEndpoint",
	  "usage: mailferry New-MigrationEndpoint -IMAP|-ExchangeRemoteMove|-ExchangeOutlookAnywhere\n"
	  "           -Name N -RemoteServer H [-Port P] [-Security None|Ssl|Tls]\n"
	  "           [-Authentication Basic|Plain|Login|Ntlm] [-Credentials USER]\n"
	  "           [-PasswordStdin | -PasswordFile F] [-AcceptUntrustedCertificates]\n"
	  "           [-ImpersonationMethod Sasl|MasterUser] [-MasterSeparator C]\n"
	  "           [-MaxConcurrentMigrations N] [-MaxConcurrentIncrementalSyncs N]\n"
	  "           [-ExchangeServer H] [-RpcProxyServer H] [-EmailAddress A]\n"
	  "           [-MailboxPermission Admin|FullAccess] [-SkipVerification]\n"
	  "           [-TestMailbox U] [-Timeout S] [-Json]\n"
	  "       mailferry New-MigrationEndpoint -IMAP|... -Name N -Autodiscover\n"
	  "           -EmailAddress A [--allow-untrusted-candidates] [parameters above]\n"
	  "Same as 'mailferry endpoint new' (Ssl = tls, Tls = starttls; -Autodiscover =\n"
	  "--autodiscover).\n",
	  false },
	{ "Get-MigrationEndpoint",
	  "usage: mailferry Get-MigrationEndpoint [[-Identity] N] [-Json]\n"
	  "Same as 'mailferry endpoint list', or 'endpoint show N'.\n",
	  false },
	{ "Set-MigrationEndpoint",
	  "usage: mailferry Set-MigrationEndpoint [-Identity] N [parameters of New-] [-Json]\n"
	  "Same as 'mailferry endpoint set N' (no type switches).\n",
	  false },
	{ "Remove-MigrationEndpoint",
	  "usage: mailferry Remove-MigrationEndpoint [-Identity] N [-Confirm:$false]\n"
	  "Same as 'mailferry endpoint remove N'; -Confirm is accepted and ignored.\n",
	  false },
	{ "Test-MigrationServerAvailability",
	  "usage: mailferry Test-MigrationServerAvailability -Endpoint N [-TestMailbox U]\n"
	  "           [-PasswordStdin | -PasswordFile F] [-Timeout S] [-Json]\n"
	  "       mailferry Test-MigrationServerAvailability -IMAP -RemoteServer H [-Port P]\n"
	  "           [-Security None|Ssl|Tls] [-Credentials USER ...] [-TestMailbox U]\n"
	  "Same as 'mailferry endpoint test'.\n",
	  false },
	{ "New-MigrationBatch",
	  "usage: mailferry New-MigrationBatch -Name N -SourceEndpoint EP [-TargetEndpoint EP]\n"
	  "           -CSVData FILE [-AutoStart] [-ExcludeFolders A,B] [-IncludeFolders A,B]\n"
	  "           [-BadItemLimit N] [-LargeItemLimit N] [-StartAfter TIME]\n"
	  "           [-CompleteAfter TIME] [-AutoComplete] [-Json]\n"
	  "Same as 'mailferry batch new' (the lists are split at their commas; use\n"
	  "--exclude-folder for a name with a comma; --incremental-interval and\n"
	  "--sync-deletes in their -- form).\n",
	  false },
	{ "Start-MigrationBatch",
	  "usage: mailferry Start-MigrationBatch [-Identity] N [-Wait] [-Json]\n"
	  "Same as 'mailferry batch start N': queued for 'mailferry serve', as\n"
	  "Exchange's returns at once; -Wait runs it in the foreground.\n",
	  false },
	{ "Complete-MigrationBatch",
	  "usage: mailferry Complete-MigrationBatch [-Identity] N [-Wait] [-Json]\n"
	  "Same as 'mailferry batch complete N': queued for 'mailferry serve'; -Wait\n"
	  "runs the final sync in the foreground.\n",
	  false },
	{ "Set-MigrationBatch",
	  "usage: mailferry Set-MigrationBatch [-Identity] N [-BadItemLimit N]\n"
	  "           [-LargeItemLimit N] [-StartAfter TIME] [-CompleteAfter TIME]\n"
	  "           [-AutoComplete[:$false]] [-Json]\n"
	  "Same as 'mailferry batch set N' (TIME: now, YYYY-MM-DD or RFC 3339, or none;\n"
	  "--incremental-interval and --[no-]sync-deletes in their -- form).\n",
	  false },
	{ "Stop-MigrationBatch",
	  "usage: mailferry Stop-MigrationBatch [-Identity] N [-Json]\n"
	  "Same as 'mailferry batch stop N'.\n",
	  false },
	{ "Remove-MigrationBatch",
	  "usage: mailferry Remove-MigrationBatch [-Identity] N [-Confirm:$false]\n"
	  "Same as 'mailferry batch remove N'; -Confirm is accepted and ignored.\n",
	  false },
	{ "Get-MigrationBatch",
	  "usage: mailferry Get-MigrationBatch [[-Identity] N] [-Json]\n"
	  "Same as 'mailferry batch list', or 'batch show N'.\n",
	  false },
	{ "Get-MigrationUser",
	  "usage: mailferry Get-MigrationUser [[-Identity] EMAIL] [-BatchId N] [-Json]\n"
	  "Same as 'mailferry user list [--batch N]', or 'user show EMAIL'.\n",
	  false },
	{ "Get-MigrationUserStatistics",
	  "usage: mailferry Get-MigrationUserStatistics [-Identity] EMAIL [-IncludeSkippedItems]\n"
	  "           [-Json]\n"
	  "Same as 'mailferry user show EMAIL [--skipped-items]'.\n",
	  false },
};

bool cli_help_print(FILE *out, const char *topic)
{
	for (size_t i = 0; i < sizeof(help_entries) / sizeof(help_entries[0]); i++) {
		const struct help_entry *e = &help_entries[i];

		if (strcasecmp(e->topic, topic) != 0)
			continue;
		fputs(e->text, out);
		if (e->settings)
			fputs(help_settings, out);
		return true;
	}
	return false;
}

bool cli_help_print_words(FILE *out, char *const *words, size_t nwords)
{
	char topic[256] = "";
	size_t len = 0;

	for (size_t i = 0; i < nwords && len < sizeof(topic); i++)
		len += (size_t)snprintf(topic + len, sizeof(topic) - len, "%s%s",
					i > 0 ? " " : "", words[i]);
	return cli_help_print(out, topic);
}
