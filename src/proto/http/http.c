/* http.c: one HTTP(S) request with libcurl's easy interface (RFC 9110,
 * RFC 9112; Basic RFC 7617; NTLM per MS-NLMP through curl).
 *
 * Why each setting: curl never resolves names itself (our resolver's
 * answer goes in with CURLOPT_RESOLVE, so --dns-server and test DNS work);
 * no proxy is used (a proxy would resolve names its own way); only http
 * and https; no redirects followed (the caller judges each hop); HTTP/1.1
 * (NTLM authenticates a connection, which HTTP/2 does not have); TLS 1.2
 * or newer, always verified; no signals (callers run requests on threads);
 * the body is capped both by Content-Length (CURLOPT_MAXFILESIZE_LARGE)
 * and as it arrives (the write callback), since chunked and close-delimited
 * bodies announce no length.
 *
 * libcurl, unlike OpenSSL, does not read SSL_CERT_FILE / SSL_CERT_DIR, so
 * they are passed as CURLOPT_CAINFO / CURLOPT_CAPATH, each replacing the
 * built-in default as it does for OpenSSL (src/net/tls.c).
 */
#include "proto/http/http.h"

#include <curl/curl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/net.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

#define HTTP_DEFAULT_TIMEOUT_MS 10000
#define HTTP_DEFAULT_MAX (1024 * 1024)

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static CURLcode http_init_status = CURLE_OK;

static void http_init(void)
{
	http_init_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_global_init(void)
{
	pthread_once(&http_once, http_init);
}

/* State shared with the callbacks of one transfer. */
struct http_call {
	struct http_response *resp;
	size_t max;
	bool too_large;
	struct buf auth; /* schemes of the current response, ", "-joined */
};

/* ---- response headers ----------------------------------------------------- */

static void http_set_field(char **field, const char *v, size_t n)
{
	free(*field);
	*field = xstrndup(v, n);
}

/* Add the auth schemes named in one WWW-Authenticate value: the
 * comma-separated elements that start with a token not followed by '='
 * (the others are auth-params of the challenge before). */
static void http_add_schemes(struct buf *out, const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start, tok_end, j;
		bool quoted = false;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ' ' && v[i] != '\t' && v[i] != ',' && v[i] != '=')
			i++;
		tok_end = i;
		j = i;
		while (j < n && (v[j] == ' ' || v[j] == '\t'))
			j++;
		if (tok_end > start && (j >= n || v[j] != '=')) {
			/* skip duplicates, case-insensitively */
			size_t tl = tok_end - start;
			const char *p = buf_cstr(out);
			bool dup = false;

			while (*p != '\0' && !dup) {
				size_t l = strcspn(p, ",");

				dup = l == tl && strncasecmp(p, v + start, tl) == 0;
				p += l;
				while (*p == ',' || *p == ' ')
					p++;
			}
			if (!dup) {
				if (out->len > 0)
					buf_puts(out, ", ");
				buf_append(out, v + start, tl);
			}
		}
		/* to the next comma outside a quoted string */
		for (; i < n; i++) {
			if (quoted && v[i] == '\\' && i + 1 < n)
				i++;
			else if (v[i] == '"')
				quoted = !quoted;
			else if (v[i] == ',' && !quoted)
				break;
		}
	}
}

static size_t http_on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_call *call = arg;
	struct http_response *r = call->resp;
	size_t n = size * nmemb, nl, vs;
	const char *colon;

	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* a new response (after 100 Continue or an auth round):
		 * forget the previous one's headers and body */
		free(r->location);
		free(r->content_type);
		r->location = r->content_type = NULL;
		buf_reset(&call->auth);
		buf_reset(&r->body);
		call->too_large = false;
		return n;
	}
	colon = memchr(data, ':', n);
	if (colon == NULL)
		return n;
	nl = (size_t)(colon - data);
	vs = nl + 1;
	while (vs < n && (data[vs] == ' ' || data[vs] == '\t'))
		vs++;
	while (n > vs && isspace((unsigned char)data[n - 1]))
		n--;
	if (nl == 8 && strncasecmp(data, "Location", 8) == 0)
		http_set_field(&r->location, data + vs, n - vs);
	else if (nl == 12 && strncasecmp(data, "Content-Type", 12) == 0)
		http_set_field(&r->content_type, data + vs, n - vs);
	else if (nl == 16 && strncasecmp(data, "WWW-Authenticate", 16) == 0)
		http_add_schemes(&call->auth, data + vs, n - vs);
	return size * nmemb;
}

static size_t http_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_call *call = arg;
	size_t n = size * nmemb;

	if (n > call->max - call->resp->body.len) {
		call->too_large = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	buf_append(&call->resp->body, data, n);
	return n;
}

/* ---- the URL ------------------------------------------------------------------ */

struct http_target {
	char *scheme;
	char *host; /* as in the URL; IPv6 literals in brackets */
	unsigned port;
};

static void http_target_free(struct http_target *t)
{
	curl_free(t->scheme);
	curl_free(t->host);
}

static int http_parse_url(const char *url, struct http_target *t, struct mf_error *err)
{
	CURLU *u = curl_url();
	char *user = NULL, *password = NULL, *port = NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (u == NULL)
		return mf_error_set(err, MF_EIO, "cannot parse a URL (out of memory)");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &t->scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &t->host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		rc = mf_error_set(err, MF_EINVAL, "malformed URL: %.300s", url);
		goto out;
	}
	if (strcmp(t->scheme, "http") != 0 && strcmp(t->scheme, "https") != 0) {
		rc = mf_error_set(err, MF_EINVAL, "not an http or https URL: %.300s", url);
		goto out;
	}
	(void)curl_url_get(u, CURLUPART_USER, &user, 0);
	(void)curl_url_get(u, CURLUPART_PASSWORD, &password, 0);
	if (user != NULL || password != NULL) {
		/* never echo it: it may hold a password */
		rc = mf_error_set(err, MF_EINVAL, "URL with credentials in it refused");
		goto out;
	}
	t->port = (unsigned)strtoul(port, NULL, 10);
out:
	curl_free(user);
	curl_free(password);
	curl_free(port);
	curl_url_cleanup(u);
	if (rc != 0)
		http_target_free(t);
	return rc;
}

static bool http_is_numeric(const char *host)
{
	unsigned char bin[16];
	char h[64];
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(h))
			return false;
		memcpy(h, host + 1, n - 2);
		h[n - 2] = '\0';
		return strchr(h, '%') != NULL || inet_pton(AF_INET6, h, bin) == 1;
	}
	return inet_pton(AF_INET, host, bin) == 1;
}

/* "host:port:addr,[v6addr]" for CURLOPT_RESOLVE. */
static char *http_resolve_entry(const struct http_target *t, const struct net_addrs *a)
{
	struct buf b = BUF_INIT;

	buf_printf(&b, "%s:%u:", t->host, t->port);
	for (size_t i = 0; i < a->count; i++) {
		if (i > 0)
			buf_putc(&b, ',');
		if (a->addr[i].ss.ss_family == AF_INET6)
			buf_printf(&b, "[%s]", a->addr[i].text);
		else
			buf_puts(&b, a->addr[i].text);
	}
	return buf_steal(&b);
}

/* ---- outcome ------------------------------------------------------------------ */

static void http_size_text(size_t n, char *out, size_t size)
{
	if (n % (1024 * 1024) == 0)
		snprintf(out, size, "%zu MiB", n / (1024 * 1024));
	else if (n % 1024 == 0)
		snprintf(out, size, "%zu KiB", n / 1024);
	else
		snprintf(out, size, "%zu bytes", n);
}

static int http_curl_error(CURLcode rc, const struct http_call *call, const char *url,
			   const struct http_target *t, int timeout_ms, long os_errno, char *errbuf,
			   struct mf_error *err)
{
	const char *why;
	char text[48];
	size_t n;

	n = strlen(errbuf);
	while (n > 0 && isspace((unsigned char)errbuf[n - 1]))
		errbuf[--n] = '\0';
	why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);

	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return mf_error_set(err, MF_EDNS, "cannot resolve %.200s: %s", t->host, why);
	case CURLE_COULDNT_CONNECT:
		return mf_error_set(err, MF_ECONNECT, "cannot connect to %.200s port %u: %s",
				    t->host, t->port,
				    os_errno != 0 ? strerror((int)os_errno) : why);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return mf_error_set(err, MF_ETLS, "TLS with %.200s failed: %s", t->host, why);
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(text, sizeof(text), "%g", timeout_ms / 1000.0);
		return mf_error_set(err, MF_ETIMEOUT, "no answer from %.300s within %s s", url,
				    text);
	case CURLE_FILESIZE_EXCEEDED:
		http_size_text(call->max, text, sizeof(text));
		return mf_error_set(err, MF_ELIMIT, "response larger than %s refused", text);
	case CURLE_WRITE_ERROR:
		if (call->too_large) {
			http_size_text(call->max, text, sizeof(text));
			return mf_error_set(err, MF_ELIMIT, "response larger than %s refused",
					    text);
		}
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return mf_error_set(err, MF_EINVAL, "cannot request %.300s: %s", url, why);
	default:
		break;
	}
	return mf_error_set(err, MF_EIO, "request to %.300s failed: %s", url, why);
}

static void http_trace(const struct http_request *req, const char *method,
		       const struct http_response *resp, int rc, const struct mf_error *err)
{
	if (req->trace == NULL)
		return;
	if (rc == 0)
		fprintf(req->trace, "%s %s -> %ld (%zu bytes)\n", method, req->url, resp->status,
			resp->body.len);
	else
		fprintf(req->trace, "%s %s -> %s: %s\n", method, req->url, mf_errcode_name(rc),
			err != NULL ? err->msg : "");
	fflush(req->trace);
}

/* ---- the request ---------------------------------------------------------------- */

static long http_curl_auth(enum http_auth a)
{
	switch (a) {
	case HTTP_AUTH_BASIC:
		return (long)CURLAUTH_BASIC;
	case HTTP_AUTH_NTLM:
		return (long)CURLAUTH_NTLM;
	case HTTP_AUTH_ANY:
		return (long)(CURLAUTH_BASIC | CURLAUTH_NTLM);
	case HTTP_AUTH_NONE:
		break;
	}
	return (long)CURLAUTH_NONE;
}

/* Everything but the transfer: resolve, then configure h. */
static int http_setup(CURL *h, const struct http_request *req, bool post,
		      const struct http_target *t, int timeout_ms, int64_t deadline,
		      struct curl_slist **resolve, struct curl_slist **headers,
		      struct mf_error *err)
{
	const char *cafile = getenv("SSL_CERT_FILE");
	const char *capath = getenv("SSL_CERT_DIR");
	int left, rc;

	if (!http_is_numeric(t->host)) {
		struct net_addrs addrs;
		char *entry;

		rc = net_resolve(t->host, (uint16_t)t->port, timeout_ms, &addrs, err);
		if (rc != 0)
			return rc;
		entry = http_resolve_entry(t, &addrs);
		*resolve = curl_slist_append(NULL, entry);
		free(entry);
		if (*resolve == NULL)
			return mf_error_set(err, MF_EIO, "out of memory");
		curl_easy_setopt(h, CURLOPT_RESOLVE, *resolve);
	}
	left = mf_ms_left(deadline);
	if (left <= 0) {
		char secs[24];

		snprintf(secs, sizeof(secs), "%g", timeout_ms / 1000.0);
		return mf_error_set(err, MF_ETIMEOUT, "no answer from %.300s within %s s", req->url,
				    secs);
	}

	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cafile != NULL && cafile[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
	if (capath != NULL && capath[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAPATH, capath);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	curl_easy_setopt(
	    h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)(req->max_response > 0 ? req->max_response : HTTP_DEFAULT_MAX));
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mailferry/" MF_VERSION);

	/* no "Expect: 100-continue" round trip before a body */
	*headers = curl_slist_append(NULL, "Expect:");
	if (post) {
		char *ct = xasprintf("Content-Type: %s", req->content_type != NULL
							     ? req->content_type
							     : "application/octet-stream");

		*headers = curl_slist_append(*headers, ct);
		free(ct);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
	}
	if (*headers == NULL)
		return mf_error_set(err, MF_EIO, "out of memory");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);

	if (req->auth != HTTP_AUTH_NONE) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, http_curl_auth(req->auth));
		curl_easy_setopt(h, CURLOPT_USERNAME, req->user != NULL ? req->user : "");
		curl_easy_setopt(h, CURLOPT_PASSWORD, req->password != NULL ? req->password : "");
	}
	return 0;
}

int http_do(const struct http_request *req, struct http_response *resp, struct mf_error *err)
{
	int timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	int64_t deadline = mf_now_ms() + timeout_ms;
	const char *method = req->method != NULL ? req->method : "GET";
	struct http_call call = {.resp = resp, .auth = BUF_INIT};
	struct curl_slist *resolve = NULL, *headers = NULL;
	char errbuf[CURL_ERROR_SIZE];
	struct http_target t;
	bool post;
	CURL *h = NULL;
	CURLcode cc;
	int rc;

	memset(resp, 0, sizeof(*resp));
	call.max = req->max_response > 0 ? req->max_response : HTTP_DEFAULT_MAX;
	if (req->url == NULL)
		return mf_error_set(err, MF_EINVAL, "no URL given");
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		return mf_error_set(err, MF_EINVAL, "unsupported HTTP method %.20s", method);
	post = strcmp(method, "POST") == 0;
	rc = http_parse_url(req->url, &t, err);
	if (rc != 0)
		goto done;
	if (req->auth != HTTP_AUTH_NONE && strcmp(t.scheme, "https") != 0) {
		http_target_free(&t);
		rc = mf_error_set(err, MF_EINVAL, "refusing to send credentials over http: %.300s",
				  req->url);
		goto done;
	}
	http_global_init();
	if (http_init_status != CURLE_OK) {
		http_target_free(&t);
		rc = mf_error_set(err, MF_EIO, "cannot initialise libcurl: %s",
				  curl_easy_strerror(http_init_status));
		goto done;
	}
	h = curl_easy_init();
	if (h == NULL) {
		http_target_free(&t);
		rc = mf_error_set(err, MF_EIO, "cannot create a libcurl handle");
		goto done;
	}
	rc = http_setup(h, req, post, &t, timeout_ms, deadline, &resolve, &headers, err);
	if (rc == 0) {
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, &call);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &call);
		cc = curl_easy_perform(h);
		if (cc != CURLE_OK) {
			long os_errno = 0;
			long verify = 0;

			curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
			/* curl's own text for a failed verification can be a
			 * low-level OpenSSL line; say what the chain check
			 * found instead ("certificate has expired"). */
			if (curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &verify) == CURLE_OK &&
			    verify != X509_V_OK)
				snprintf(errbuf, CURL_ERROR_SIZE, "%s",
					 X509_verify_cert_error_string(verify));
			rc = http_curl_error(cc, &call, req->url, &t, timeout_ms, os_errno, errbuf,
					     err);
		} else {
			char *redirect = NULL;

			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
			if (resp->status >= 300 && resp->status < 400) {
				/* absolute, resolved against the request URL */
				curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect);
				if (redirect != NULL) /* else keep the raw header */
					http_set_field(&resp->location, redirect, strlen(redirect));
			} else {
				free(resp->location);
				resp->location = NULL;
			}
			if (call.auth.len > 0)
				resp->www_authenticate = buf_steal(&call.auth);
		}
	}
	http_target_free(&t);
done:
	if (rc != 0)
		http_response_free(resp);
	http_trace(req, method, resp, rc, err);
	buf_free(&call.auth);
	curl_slist_free_all(resolve);
	curl_slist_free_all(headers);
	if (h != NULL)
		curl_easy_cleanup(h);
	return rc;
}

void http_response_free(struct http_response *resp)
{
	free(resp->location);
	free(resp->content_type);
	free(resp->www_authenticate);
	buf_free(&resp->body);
	memset(resp, 0, sizeof(*resp));
}
