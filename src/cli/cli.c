/* cli.c: cli_main, the dispatcher, and the helpers shared by the commands. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli-args.h"
#include "cli-cmd.h"
#include "cli-help.h"
#include "cli-output.h"
#include "net/net.h"
#include "util/log.h"
#include "util/xmalloc.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("mailferry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const struct cli_opts *o, const char *fmt, ...)
{
	char hint[160];
	va_list ap;

	fflush(stdout);
	fputs("mailferry: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	cli_usage_hint(o, hint, sizeof(hint));
	fprintf(stderr, "\n(%s)\n", hint);
	return CLI_EXIT_USAGE;
}

int cli_exit_for(int code)
{
	switch (code) {
	case MF_ENOTFOUND: return CLI_EXIT_NOTFOUND;
	case MF_EEXIST:
	case MF_EBUSY: return CLI_EXIT_CONFLICT;
	case MF_EIO: return CLI_EXIT_STATE;
	default: return CLI_EXIT_FAIL;
	}
}

const char *cli_opt_name(const struct cli_opts *o, const char *option, const char *param)
{
	return o->cmdlet != NULL ? param : option;
}

int cli_store_open(const struct cli_opts *o, struct store **st_r)
{
	struct mf_error err = { 0 };
	char *dir = store_default_data_dir(o->data_dir);
	char *key = store_default_key_file(dir);
	int rc = store_open(dir, key, st_r, &err);

	if (rc < 0)
		cli_error("cannot open the state in %s: %s", dir, err.msg);
	free(key);
	free(dir);
	return rc < 0 ? CLI_EXIT_STATE : 0;
}

static int cli_help(const struct cli_opts *o)
{
	bool found;

	if (o->cmd == CLI_CMD_NONE || o->cmd == CLI_CMD_HELP)
		found = cli_help_print_words(stdout, o->topic, o->topic_count);
	else
		found = cli_help_print(stdout, cli_cmd_label(o));
	if (!found)
		return cli_usage_error(o, "no help for '%s'", o->topic_count > 0 ? o->topic[0] : "");
	return CLI_EXIT_OK;
}

static int cli_version(const struct cli_opts *o)
{
	if (o->json) {
		json_t *j = json_pack("{s:s}", "Version", MF_VERSION);

		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		printf("mailferry %s\n", MF_VERSION);
	}
	return CLI_EXIT_OK;
}

/* --dns-server, else $MAILFERRY_DNS_SERVER; only for commands that test or
 * discover. */
static int cli_setup_dns(const struct cli_opts *o)
{
	const char *dns = o->dns_server != NULL ? o->dns_server : getenv("MAILFERRY_DNS_SERVER");
	struct mf_error err = { 0 };

	if (dns == NULL || dns[0] == '\0')
		return 0;
	if (net_set_dns_server(dns, &err) < 0)
		return cli_usage_error(o, "%s: %s", o->dns_server != NULL ? "--dns-server"
					  : "MAILFERRY_DNS_SERVER", err.msg);
	return 0;
}

int cli_main(int argc, char **argv)
{
	struct cli_opts o;
	struct mf_error err = { 0 };
	int rc;

	rc = cli_parse(argc > 0 ? argc - 1 : 0, argc > 0 ? argv + 1 : argv, &o, &err);
	if (rc != 0) {
		cli_usage_error(&o, "%s", err.msg);
		cli_opts_free(&o);
		return rc;
	}
	if (o.verbose > 0)
		log_set_level(o.verbose >= 2 ? LOG_DEBUG : LOG_INFO);
	if (o.help) {
		rc = cli_help(&o);
		cli_opts_free(&o);
		return rc;
	}
	if (o.cmd == CLI_CMD_EP_NEW || o.cmd == CLI_CMD_EP_SET || o.cmd == CLI_CMD_EP_TEST ||
	    o.cmd == CLI_CMD_AUTODISCOVER)
		rc = cli_setup_dns(&o);
	if (rc != 0) {
		cli_opts_free(&o);
		return rc;
	}
	switch (o.cmd) {
	case CLI_CMD_HELP: rc = cli_help(&o); break;
	case CLI_CMD_VERSION: rc = cli_version(&o); break;
	case CLI_CMD_EP_NEW: rc = cli_endpoint_new(&o); break;
	case CLI_CMD_EP_LIST: rc = cli_endpoint_list(&o); break;
	case CLI_CMD_EP_SHOW: rc = cli_endpoint_show(&o); break;
	case CLI_CMD_EP_SET: rc = cli_endpoint_set(&o); break;
	case CLI_CMD_EP_REMOVE: rc = cli_endpoint_remove(&o); break;
	case CLI_CMD_EP_TEST: rc = cli_endpoint_test(&o); break;
	case CLI_CMD_BATCH_NEW: rc = cli_batch_new(&o); break;
	case CLI_CMD_BATCH_LIST: rc = cli_batch_list(&o); break;
	case CLI_CMD_BATCH_SHOW: rc = cli_batch_show(&o); break;
	case CLI_CMD_BATCH_START: rc = cli_batch_start(&o); break;
	case CLI_CMD_BATCH_STOP: rc = cli_batch_stop(&o); break;
	case CLI_CMD_BATCH_REMOVE: rc = cli_batch_remove(&o); break;
	case CLI_CMD_BATCH_REPORT: rc = cli_batch_report(&o); break;
	case CLI_CMD_USER_LIST: rc = cli_user_list(&o); break;
	case CLI_CMD_USER_SHOW: rc = cli_user_show(&o); break;
	case CLI_CMD_AUTODISCOVER: rc = cli_autodiscover(&o); break;
	case CLI_CMD_BATCH_SET: rc = cli_batch_set(&o); break;
	case CLI_CMD_BATCH_COMPLETE: rc = cli_batch_complete(&o); break;
	case CLI_CMD_SERVE: rc = cli_serve(&o); break;
	case CLI_CMD_NONE:
	case CLI_CMD_COUNT:
	default: rc = cli_usage_error(&o, "no command given"); break;
	}
	fflush(stdout);
	cli_opts_free(&o);
	return rc;
}
