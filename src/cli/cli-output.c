/* cli-output.c: tables, Format-List blocks and JSON (see cli-output.h). */
#include "cli-output.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

#define CLI_WRAP_COLUMN 100

void cli_print_json(FILE *out, const json_t *j)
{
	json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	fputc('\n', out);
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *time_or_null(int64_t t)
{
	char when[32];

	if (t <= 0)
		return json_null();
	mf_time_rfc3339((time_t)t, when);
	return json_string(when);
}

static bool is_exchange(const struct store_endpoint *ep)
{
	return ep->type != NULL && strcmp(ep->type, "imap") != 0;
}

json_t *cli_endpoint_json(const struct store_endpoint *ep)
{
	json_t *o = json_object();
	json_t *last = NULL;
	const char *message = NULL;

	if (ep->last_test_json != NULL) {
		last = json_loads(ep->last_test_json, 0, NULL);
		if (last != NULL)
			message = json_string_value(json_object_get(last, "Message"));
	}
	json_object_set_new(o, "Name", str_or_null(ep->name));
	json_object_set_new(o, "Type", str_or_null(ep->type));
	json_object_set_new(o, "Server", str_or_null(ep->server));
	json_object_set_new(o, "Port", ep->port > 0 ? json_integer(ep->port) : json_null());
	json_object_set_new(o, "Security", str_or_null(ep->security));
	json_object_set_new(o, "Authentication", str_or_null(ep->auth));
	json_object_set_new(o, "AdminUser", str_or_null(ep->admin_user));
	json_object_set_new(o, "AdminPassword",
			    ep->admin_secret != NULL && ep->admin_secret[0] != '\0'
				    ? json_string("********") : json_null());
	json_object_set_new(o, "ImpersonationMethod", str_or_null(ep->impersonation));
	json_object_set_new(o, "MasterSeparator", str_or_null(ep->master_separator));
	json_object_set_new(o, "AcceptUntrustedCertificates", json_boolean(ep->accept_untrusted));
	json_object_set_new(o, "MaxConcurrentMigrations",
			    json_integer(ep->max_concurrent_migrations));
	json_object_set_new(o, "MaxConcurrentIncrementalSyncs",
			    json_integer(ep->max_concurrent_incremental_syncs));
	if (is_exchange(ep)) {
		json_object_set_new(o, "ExchangeServer", str_or_null(ep->exchange_server));
		json_object_set_new(o, "RpcProxyServer", str_or_null(ep->rpc_proxy_server));
		json_object_set_new(o, "EmailAddress", str_or_null(ep->email_address));
		json_object_set_new(o, "MailboxPermission", str_or_null(ep->mailbox_permission));
	}
	json_object_set_new(o, "LastTestResult", str_or_null(ep->last_test_result));
	json_object_set_new(o, "LastTestTime", time_or_null(ep->last_test_at));
	json_object_set_new(o, "LastTestMessage", str_or_null(message));
	json_object_set_new(o, "CreatedAt", time_or_null(ep->created_at));
	json_object_set_new(o, "LastTest", last != NULL ? last : json_null());
	return o;
}

/* ---- Format-List --------------------------------------------------------- */

void cli_print_kv(FILE *out, const struct cli_kv *kv, size_t n)
{
	size_t width = 0;

	for (size_t i = 0; i < n; i++) {
		if (strlen(kv[i].key) > width)
			width = strlen(kv[i].key);
	}
	for (size_t i = 0; i < n; i++) {
		const char *v = kv[i].value != NULL ? kv[i].value : "";
		const char *nl;

		fprintf(out, "%-*s :%s", (int)width, kv[i].key, v[0] != '\0' ? " " : "");
		while ((nl = strchr(v, '\n')) != NULL) {
			fprintf(out, "%.*s\n%*s", (int)(nl - v), v, (int)width + 3, "");
			v = nl + 1;
		}
		fprintf(out, "%s\n", v);
	}
}

void cli_kv_free(struct cli_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(kv[i].value);
}

char *cli_json_text(const json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_true(v))
		return xstrdup("True");
	if (json_is_false(v))
		return xstrdup("False");
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	if (json_is_real(v))
		return xasprintf("%g", json_real_value(v));
	return xstrdup("");
}

void cli_print_endpoint(FILE *out, const struct store_endpoint *ep)
{
	json_t *o = cli_endpoint_json(ep);
	struct cli_kv kv[32] = { 0 };
	size_t n = 0;
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (strcmp(key, "LastTest") == 0 || n == sizeof(kv) / sizeof(kv[0]))
			continue;
		kv[n].key = key;
		kv[n].value = cli_json_text(v);
		n++;
	}
	cli_print_kv(out, kv, n);
	cli_kv_free(kv, n);
	json_decref(o);
}

/* ---- tables -------------------------------------------------------------- */

void cli_print_table(FILE *out, const char *const *hdr, size_t ncol, char *const *cells,
		     size_t nrows)
{
	size_t width[CLI_TABLE_MAX_COLS] = { 0 };

	if (ncol > CLI_TABLE_MAX_COLS)
		ncol = CLI_TABLE_MAX_COLS;

	for (size_t c = 0; c < ncol; c++) {
		width[c] = strlen(hdr[c]);
		for (size_t r = 0; r < nrows; r++) {
			size_t l = strlen(cells[r * ncol + c]);

			if (l > width[c])
				width[c] = l;
		}
	}
	for (size_t c = 0; c < ncol; c++) {
		if (c + 1 < ncol)
			fprintf(out, "%-*s  ", (int)width[c], hdr[c]);
		else
			fprintf(out, "%s\n", hdr[c]);
	}
	for (size_t c = 0; c < ncol; c++) {
		size_t l = strlen(hdr[c]);

		for (size_t k = 0; k < l; k++)
			fputc('-', out);
		if (c + 1 < ncol)
			fprintf(out, "%*s", (int)(width[c] - l + 2), "");
		else
			fputc('\n', out);
	}
	for (size_t r = 0; r < nrows; r++) {
		for (size_t c = 0; c < ncol; c++) {
			const char *s = cells[r * ncol + c];

			if (c + 1 < ncol)
				fprintf(out, "%-*s  ", (int)width[c], s);
			else
				fprintf(out, "%s\n", s);
		}
	}
}

void cli_print_endpoint_table(FILE *out, const struct store_endpoint *eps, size_t n)
{
	static const char *const hdr[] = { "Name", "Type", "Server", "Port", "Security",
					   "LastTest" };
	enum { NCOL = 6 };
	char **cells;

	if (n == 0) {
		fputs("No endpoints.\n", out);
		return;
	}
	cells = xcalloc(n * NCOL, sizeof(*cells));
	for (size_t r = 0; r < n; r++) {
		const struct store_endpoint *ep = &eps[r];
		char **row = cells + r * NCOL;

		row[0] = xstrdup(ep->name != NULL ? ep->name : "");
		row[1] = xstrdup(ep->type != NULL ? ep->type : "");
		row[2] = xstrdup(ep->server != NULL ? ep->server : "");
		row[3] = ep->port > 0 ? xasprintf("%d", ep->port) : xstrdup("");
		row[4] = xstrdup(ep->security != NULL ? ep->security : "");
		row[5] = xstrdup(ep->last_test_result != NULL ? ep->last_test_result : "-");
	}
	cli_print_table(out, hdr, NCOL, cells, n);
	for (size_t i = 0; i < n * NCOL; i++)
		free(cells[i]);
	free(cells);
}

/* ---- connection test ---------------------------------------------------- */

static void print_stages(FILE *out, const json_t *stages)
{
	static const char *const hdr[] = { "Stage", "Status", "Time", "Detail" };
	size_t n = json_array_size(stages);
	char **cells;

	if (n == 0)
		return;
	cells = xcalloc(n * 4, sizeof(*cells));
	for (size_t r = 0; r < n; r++) {
		const json_t *s = json_array_get(stages, r);
		const json_t *ms = json_object_get(s, "ElapsedMs");
		const char *status = json_string_value(json_object_get(s, "Status"));
		const char *stage = json_string_value(json_object_get(s, "Stage"));
		const char *detail = json_string_value(json_object_get(s, "Detail"));
		char **row = cells + r * 4;

		row[0] = xstrdup(stage != NULL ? stage : "");
		row[1] = xstrdup(status != NULL ? status : "");
		if (json_is_number(ms) && (status == NULL || strcmp(status, "skipped") != 0))
			row[2] = xasprintf("%.2f ms", json_number_value(ms));
		else
			row[2] = xstrdup("");
		row[3] = xstrdup(detail != NULL ? detail : "");
	}
	cli_print_table(out, hdr, 4, cells, n);
	for (size_t i = 0; i < n * 4; i++)
		free(cells[i]);
	free(cells);
	fputc('\n', out);
}

/* "UIDPLUS yes, CONDSTORE no, ..." wrapped with newlines. */
static char *capability_list(const json_t *caps)
{
	struct buf b = BUF_INIT;
	size_t line = 0;
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)caps, key, v) {
		char *item = xasprintf("%s %s", key, json_is_true(v) ? "yes" : "no");
		size_t l = strlen(item);

		if (b.len > 0) {
			if (line + l + 2 > CLI_WRAP_COLUMN - 20) {
				buf_puts(&b, ",\n");
				line = 0;
			} else {
				buf_puts(&b, ", ");
				line += 2;
			}
		}
		buf_puts(&b, item);
		line += l;
		free(item);
	}
	return buf_steal(&b);
}

static char *lines_of(const json_t *arr)
{
	struct buf b = BUF_INIT;
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) {
		if (i > 0)
			buf_putc(&b, '\n');
		buf_puts(&b, json_string_value(v) != NULL ? json_string_value(v) : "");
	}
	return buf_steal(&b);
}

void cli_print_test(FILE *out, const json_t *doc)
{
	static const char *const keys[] = { "Result", "Message", "Greeting", "ServerId", "TLS" };
	struct cli_kv kv[16];
	size_t n = 0;
	const json_t *server = json_object_get(doc, "Server");
	const json_t *port = json_object_get(doc, "Port");
	const json_t *sec = json_object_get(doc, "Security");

	print_stages(out, json_object_get(doc, "Stages"));
	for (size_t i = 0; i < 2; i++) {
		kv[n].key = keys[i];
		kv[n++].value = cli_json_text(json_object_get(doc, keys[i]));
	}
	kv[n].key = "Server";
	if (json_is_string(server))
		kv[n++].value = json_is_string(sec)
			? xasprintf("%s:%lld (%s)", json_string_value(server),
				    (long long)json_integer_value(port), json_string_value(sec))
			: xasprintf("%s:%lld", json_string_value(server),
				    (long long)json_integer_value(port));
	else
		kv[n++].value = xstrdup("");
	kv[n].key = "LoginAs";
	kv[n++].value = cli_json_text(json_object_get(doc, "LoginAs"));
	for (size_t i = 2; i < sizeof(keys) / sizeof(keys[0]); i++) {
		kv[n].key = keys[i];
		kv[n++].value = cli_json_text(json_object_get(doc, keys[i]));
	}
	kv[n].key = "Capabilities";
	/* all "no" would mislead when the capability stage never ran */
	if (json_array_size(json_object_get(doc, "Capabilities")) > 0) {
		char *list = capability_list(json_object_get(doc, "MigrationCapabilities"));

		/* before login a server may hide what a session gets */
		if (json_is_true(json_object_get(doc, "CapabilitiesAfterLogin"))) {
			kv[n++].value = list;
		} else {
			kv[n++].value = xasprintf("(before login) %s", list);
			free(list);
		}
	} else
		kv[n++].value = xstrdup("");
	kv[n].key = "Warnings";
	kv[n++].value = lines_of(json_object_get(doc, "Warnings"));
	cli_print_kv(out, kv, n);
	cli_kv_free(kv, n);
}
