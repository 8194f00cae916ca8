/* ref-fetch: the reference limit for reading a mailbox. Logs in, lists every
 * selectable folder and, per folder, EXAMINEs it and fetches every message
 * (FLAGS INTERNALDATE BODY.PEEK[]) with one pipelined FETCH 1:*: the server
 * streams the whole folder without waiting for the client. The bodies are
 * streamed through mailferry's IMAP client (src/proto/imap/imap-client.h)
 * and dropped; only counts are kept.
 *
 *   ref-fetch HOST PORT USER PASSWORD
 *
 * Prints one JSON line: {"messages": N, "bytes": N, "folders": N}.
 * Exit 0, or 1 with the reason on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap/imap-client.h"
#include "proto/imap/imap-session.h"

struct fetch_ctx {
	uint64_t messages;
	uint64_t bytes;
	int failed;
	char why[600];
};

static bool lit_begin(void *ctx, const struct imap_literal_start *ls)
{
	(void)ctx;
	(void)ls;
	return true;
}

static int lit_data(void *ctx, const void *data, size_t len)
{
	struct fetch_ctx *f = ctx;
	(void)data;
	f->bytes += len;
	return 0;
}

static void lit_end(void *ctx)
{
	(void)ctx;
}

static void on_untagged(void *ctx, const struct imap_response *r)
{
	struct fetch_ctx *f = ctx;
	if (r->keyword != NULL && strcmp(r->keyword, "FETCH") == 0)
		f->messages++;
}

static void on_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct fetch_ctx *f = ctx;
	if (r == NULL) {
		f->failed = 1;
		snprintf(f->why, sizeof(f->why), "%s", err != NULL ? err->msg : "failed");
	} else if (r->status != IMAP_STATUS_OK) {
		f->failed = 1;
		snprintf(f->why, sizeof(f->why), "FETCH: %s", r->text);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: ref-fetch HOST PORT USER PASSWORD\n");
		return 2;
	}
	struct mf_error err = {0};
	struct imap_session_opts o = {
		.host = argv[1],
		.port = (uint16_t)atoi(argv[2]),
		.security = IMAP_SEC_NONE,
		.auth = IMAP_AUTH_PLAIN,
		.user = argv[3],
		.password = argv[4],
		.timeout_ms = 120000,
	};
	o.client.io_timeout_ms = 120000;
	o.client.limits.stream_threshold = 1;
	struct imap_client *c = NULL;
	if (imap_session_open(&o, &c, &err) < 0) {
		fprintf(stderr, "ref-fetch: %s\n", err.msg);
		return 1;
	}
	struct imap_list_result list = {0};
	if (imap_client_list(c, &list, &err) < 0) {
		fprintf(stderr, "ref-fetch: LIST: %s\n", err.msg);
		return 1;
	}
	struct fetch_ctx f = {0};
	struct imap_literal_handler h = {lit_begin, lit_data, lit_end};
	int folders = 0;
	for (size_t i = 0; i < list.count; i++) {
		const struct imap_list_entry *e = &list.entries[i];
		if (e->flags & (IMAP_LIST_NOSELECT | IMAP_LIST_NONEXISTENT))
			continue;
		struct imap_mailbox_state st;
		if (imap_client_select(c, e->name, true, &st, &err) < 0) {
			fprintf(stderr, "ref-fetch: EXAMINE %s: %s\n", e->name, err.msg);
			return 1;
		}
		folders++;
		if (st.exists == 0)
			continue;
		imap_client_set_literal_handler(c, &h, &f);
		struct imap_cmd *cmd = imap_cmd_new("FETCH");
		imap_cmd_atom(cmd, "1:*");
		imap_cmd_atom(cmd, "(FLAGS INTERNALDATE BODY.PEEK[])");
		char tag[32];
		snprintf(tag, sizeof(tag), "%s", imap_client_submit(c, cmd, on_untagged, on_done, &f));
		if (imap_client_run(c, tag, &err) < 0 || f.failed) {
			fprintf(stderr, "ref-fetch: %s: %s\n", e->name, f.failed ? f.why : err.msg);
			return 1;
		}
		imap_client_set_literal_handler(c, NULL, NULL);
	}
	imap_list_result_free(&list);
	imap_client_logout(c, &err);
	imap_client_free(&c);
	printf("{\"messages\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"folders\": %d}\n", f.messages,
	       f.bytes, folders);
	return 0;
}
