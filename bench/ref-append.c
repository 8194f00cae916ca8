/* ref-append: the reference limit for writing a mailbox. Reads the bench
 * corpus from its cache (the manifest written by bench/corpus.py and the
 * Maildir files it names) and stores it into an IMAP account with pipelined
 * MULTIAPPEND (RFC 3502) through mailferry's IMAP client
 * (src/proto/imap/imap-client.h): per folder CREATE, SUBSCRIBE and SELECT,
 * then APPEND commands of up to BATCH_COUNT messages / BATCH_BYTES bytes
 * each, up to WINDOW of them outstanding; a message larger than
 * STREAM_MIN is appended alone with a streamed literal (never whole in
 * memory). Flags, keywords and INTERNALDATE go with each message.
 *
 *   ref-append MANIFEST HOST PORT USER PASSWORD
 *
 * Manifest lines (tab-separated, paths relative to the manifest's folder):
 *   F  wire-name  subscribed(0|1)
 *   M  wire-name  flags  internaldate  size  path
 *
 * Prints one JSON line: {"messages": N, "bytes": N, "commands": N}.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proto/imap/imap-client.h"
#include "proto/imap/imap-session.h"

#define BATCH_COUNT 100
#define BATCH_BYTES (8u << 20)
#define STREAM_MIN (4u << 20)
#define WINDOW 4

struct msg {
	char *folder;
	char *flags;
	char *date;
	uint64_t size;
	char *path;
};

struct state {
	struct imap_client *c;
	char tags[WINDOW][32];
	int ntags;
	uint64_t appended, bytes, commands;
	int failed;
	char why[600];
};

static void die(const char *what, const char *why)
{
	fprintf(stderr, "ref-append: %s: %s\n", what, why);
	exit(1);
}

static void on_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct state *s = ctx;
	if (r == NULL) {
		s->failed = 1;
		snprintf(s->why, sizeof(s->why), "%s", err != NULL ? err->msg : "failed");
	} else if (r->status != IMAP_STATUS_OK) {
		s->failed = 1;
		snprintf(s->why, sizeof(s->why), "%s", r->text);
	}
}

static void on_create(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	(void)ctx;
	(void)r;
	(void)err; /* an existing folder (INBOX, or one already created) is fine */
}

/* Wait until the oldest outstanding command completes. */
static void wait_oldest(struct state *s)
{
	struct mf_error err = {0};
	if (s->ntags == 0)
		return;
	if (imap_client_run(s->c, s->tags[0], &err) < 0)
		die("APPEND", err.msg);
	if (s->failed)
		die("APPEND", s->why);
	memmove(s->tags[0], s->tags[1], sizeof(s->tags[0]) * (WINDOW - 1));
	s->ntags--;
}

static void remember(struct state *s, const char *tag)
{
	if (s->ntags == WINDOW)
		wait_oldest(s);
	snprintf(s->tags[s->ntags++], sizeof(s->tags[0]), "%s", tag);
	s->commands++;
}

static char *read_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die(path, strerror(errno));
	char *data = malloc(size ? size : 1);
	uint64_t got = 0;
	while (got < size) {
		ssize_t n = read(fd, data + got, size - got);
		if (n <= 0)
			die(path, n < 0 ? strerror(errno) : "short file");
		got += (uint64_t)n;
	}
	close(fd);
	return data;
}

static void add_message_args(struct imap_cmd *cmd, const struct msg *m)
{
	imap_cmd_atomf(cmd, "(%s)", m->flags);
	imap_cmd_atomf(cmd, "\"%s\"", m->date);
}

static void append_stream(struct state *s, const struct msg *m)
{
	struct mf_error err = {0};
	/* Only one streamed literal may be open: drain the window first so the
	 * command is sent at once. */
	while (s->ntags > 0)
		wait_oldest(s);
	struct imap_cmd *cmd = imap_cmd_new("APPEND");
	imap_cmd_astring(cmd, m->folder);
	add_message_args(cmd, m);
	imap_cmd_literal_stream(cmd, m->size);
	remember(s, imap_client_submit(s->c, cmd, NULL, on_done, s));
	int fd = open(m->path, O_RDONLY);
	if (fd < 0)
		die(m->path, strerror(errno));
	static char chunk[1 << 18];
	uint64_t left = m->size;
	while (left > 0) {
		ssize_t n = read(fd, chunk, left < sizeof(chunk) ? left : sizeof(chunk));
		if (n <= 0)
			die(m->path, "short read");
		if (imap_client_literal_write(s->c, chunk, (size_t)n, &err) < 0)
			die("APPEND", err.msg);
		left -= (uint64_t)n;
	}
	close(fd);
	if (imap_client_literal_end(s->c, &err) < 0)
		die("APPEND", err.msg);
	s->appended++;
	s->bytes += m->size;
}

static void append_batch(struct state *s, struct msg *ms, size_t n)
{
	struct imap_cmd *cmd = imap_cmd_new("APPEND");
	imap_cmd_astring(cmd, ms[0].folder);
	for (size_t i = 0; i < n; i++) {
		char *data = read_file(ms[i].path, ms[i].size);
		add_message_args(cmd, &ms[i]);
		imap_cmd_literal(cmd, data, ms[i].size);
		free(data);
		s->appended++;
		s->bytes += ms[i].size;
	}
	remember(s, imap_client_submit(s->c, cmd, NULL, on_done, s));
}

static void run_sync(struct state *s, struct imap_cmd *cmd, imap_done_fn *done)
{
	struct mf_error err = {0};
	char tag[32];
	snprintf(tag, sizeof(tag), "%s", imap_client_submit(s->c, cmd, NULL, done, s));
	if (imap_client_run(s->c, tag, &err) < 0)
		die("command", err.msg);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: ref-append MANIFEST HOST PORT USER PASSWORD\n");
		return 2;
	}
	const char *manifest = argv[1];
	char base[4096];
	snprintf(base, sizeof(base), "%s", manifest);
	char *slash = strrchr(base, '/');
	if (slash != NULL)
		slash[1] = '\0';
	else
		snprintf(base, sizeof(base), "./");

	FILE *f = fopen(manifest, "r");
	if (f == NULL)
		die(manifest, strerror(errno));
	struct msg *msgs = NULL;
	size_t nmsgs = 0, cap = 0;
	char **folders = NULL;
	int *subscribed = NULL;
	size_t nfolders = 0;
	char *line = NULL;
	size_t linecap = 0;
	while (getline(&line, &linecap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *fields[7] = {0};
		int nf = 0;
		for (char *p = line, *tok; nf < 7 && (tok = strsep(&p, "\t")) != NULL;)
			fields[nf++] = tok;
		if (nf == 3 && strcmp(fields[0], "F") == 0) {
			folders = realloc(folders, (nfolders + 1) * sizeof(*folders));
			subscribed = realloc(subscribed, (nfolders + 1) * sizeof(*subscribed));
			folders[nfolders] = strdup(fields[1]);
			subscribed[nfolders++] = atoi(fields[2]);
		} else if (nf == 6 && strcmp(fields[0], "M") == 0) {
			if (nmsgs == cap) {
				cap = cap ? cap * 2 : 1024;
				msgs = realloc(msgs, cap * sizeof(*msgs));
			}
			struct msg *m = &msgs[nmsgs++];
			m->folder = strdup(fields[1]);
			m->flags = strdup(fields[2]);
			m->date = strdup(fields[3]);
			m->size = strtoull(fields[4], NULL, 10);
			if (asprintf(&m->path, "%s%s", base, fields[5]) < 0)
				die("asprintf", "failed");
		}
	}
	free(line);
	fclose(f);

	struct mf_error err = {0};
	struct imap_session_opts o = {
		.host = argv[2],
		.port = (uint16_t)atoi(argv[3]),
		.security = IMAP_SEC_NONE,
		.auth = IMAP_AUTH_PLAIN,
		.user = argv[4],
		.password = argv[5],
		.timeout_ms = 120000,
	};
	o.client.io_timeout_ms = 300000;
	struct state s = {0};
	if (imap_session_open(&o, &s.c, &err) < 0)
		die("login", err.msg);
	if (!imap_client_has_cap(s.c, "MULTIAPPEND"))
		fprintf(stderr, "ref-append: the server does not announce MULTIAPPEND\n");

	for (size_t i = 0; i < nfolders; i++) {
		struct imap_cmd *cmd;
		if (strcasecmp(folders[i], "INBOX") != 0) {
			cmd = imap_cmd_new("CREATE");
			imap_cmd_astring(cmd, folders[i]);
			run_sync(&s, cmd, on_create);
		}
		if (subscribed[i]) {
			cmd = imap_cmd_new("SUBSCRIBE");
			imap_cmd_astring(cmd, folders[i]);
			run_sync(&s, cmd, on_create);
		}
	}

	size_t i = 0;
	while (i < nmsgs) {
		const char *folder = msgs[i].folder;
		struct imap_mailbox_state st;
		while (s.ntags > 0)
			wait_oldest(&s);
		if (imap_client_select(s.c, folder, false, &st, &err) < 0)
			die(folder, err.msg);
		size_t end = i;
		while (end < nmsgs && strcmp(msgs[end].folder, folder) == 0)
			end++;
		while (i < end) {
			if (msgs[i].size >= STREAM_MIN) {
				append_stream(&s, &msgs[i]);
				i++;
				continue;
			}
			size_t j = i;
			uint64_t bytes = 0;
			while (j < end && j - i < BATCH_COUNT && msgs[j].size < STREAM_MIN &&
			       (j == i || bytes + msgs[j].size <= BATCH_BYTES)) {
				bytes += msgs[j].size;
				j++;
			}
			append_batch(&s, &msgs[i], j - i);
			i = j;
		}
	}
	while (s.ntags > 0)
		wait_oldest(&s);
	if (imap_client_run(s.c, NULL, &err) < 0)
		die("APPEND", err.msg);
	if (s.failed)
		die("APPEND", s.why);
	imap_client_logout(s.c, &err);
	imap_client_free(&s.c);
	printf("{\"messages\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"commands\": %" PRIu64 "}\n",
	       s.appended, s.bytes, s.commands);
	return 0;
}
