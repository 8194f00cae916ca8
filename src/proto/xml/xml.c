/* xml.c: libxml2 (2.9.14) with the settings for untrusted input.
 *
 * How a DOCTYPE is refused: the parser context's own SAX table gets an
 * internalSubset callback that notes the DTD and calls xmlStopParser(). The
 * parser calls it as soon as it has read "<!DOCTYPE name [ids]", before it
 * reads a single declaration of the internal subset, so a billion-laughs or
 * XXE payload is never parsed, let alone expanded, whatever the document's
 * encoding. The finished tree is checked for a DTD as well, in case a
 * future libxml2 builds one another way.
 *
 * How errors stay per call (thread safety): xmlSetStructuredErrorFunc() sets
 * a per-thread handler in 2.9 and xmlCtxtSetErrorHandler() only came in
 * 2.13, so each call makes its own context with xmlNewParserCtxt() and sets
 * ctxt->sax->serror. __xmlRaiseError() prefers that handler over the global
 * ones for parser, namespace and I/O errors, and passes the context in
 * xmlError.ctxt, where our per-call state hangs off ctxt->_private (which
 * libxml2 leaves to the application). XML_PARSE_NOERROR / NOWARNING drop
 * the fallback printing channels, so nothing reaches stderr.
 */
#include "proto/xml/xml.h"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/xmalloc.h"

#define XML_MAX_INPUT (1024 * 1024)

/* Per-call state, reached from the context's _private. */
struct xml_call {
	bool dtd_seen;
	char first_error[300]; /* first error libxml2 reported, or "" */
	int first_line;
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	/* Must run once before parsing on several threads (libxml2 2.9) */
	xmlInitParser();
}

static void xml_on_error(void *data, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt;
	struct xml_call *call;
	size_t n;

	(void)data; /* NULL for many parser errors in 2.9: use e->ctxt */
	if (e == NULL || e->ctxt == NULL || e->level < XML_ERR_ERROR)
		return;
	ctxt = e->ctxt;
	call = ctxt->_private;
	if (call == NULL || call->first_error[0] != '\0')
		return;
	snprintf(call->first_error, sizeof(call->first_error), "%s",
		 e->message != NULL ? e->message : "unknown error");
	n = strlen(call->first_error);
	while (n > 0 && (call->first_error[n - 1] == '\n' || call->first_error[n - 1] == ' '))
		call->first_error[--n] = '\0';
	call->first_line = e->line;
}

/* SAX: "<!DOCTYPE" was read. Stop before the internal subset. */
static void xml_on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
			   const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct xml_call *call = ctxt->_private;

	(void)name;
	(void)external_id;
	(void)system_id;
	call->dtd_seen = true;
	xmlStopParser(ctxt);
}

int xml_parse_safe(const char *data, size_t len, xmlDocPtr *doc_r, struct mf_error *err)
{
	/* Not set: NOENT (substitution), DTDLOAD, DTDATTR, DTDVALID, XINCLUDE,
	 * HUGE (keeps libxml2's own depth and size limits). */
	const int options =
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA;
	struct xml_call call;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	*doc_r = NULL;
	if (len > XML_MAX_INPUT)
		return mf_error_set(err, MF_ELIMIT, "XML larger than 1 MiB refused");
	if (data == NULL)
		data = "";
	pthread_once(&xml_once, xml_init);

	memset(&call, 0, sizeof(call));
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL)
		return mf_error_set(err, MF_EIO, "cannot create an XML parser");
	ctxt->_private = &call;
	ctxt->sax->serror = xml_on_error;
	ctxt->sax->internalSubset = xml_on_doctype;
	ctxt->sax->externalSubset = NULL;
	doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL, options);
	if (call.dtd_seen || (doc != NULL && (doc->intSubset != NULL || doc->extSubset != NULL))) {
		xmlFreeDoc(doc);
		xmlFreeParserCtxt(ctxt);
		return mf_error_set(err, MF_EPROTO, "XML with a DTD refused");
	}
	if (doc == NULL) {
		if (call.first_error[0] == '\0')
			mf_error_set(err, MF_EPROTO, "malformed XML");
		else
			mf_error_set(err, MF_EPROTO, "malformed XML: %s (line %d)",
				     call.first_error, call.first_line);
		xmlFreeParserCtxt(ctxt);
		return MF_EPROTO;
	}
	xmlFreeParserCtxt(ctxt);
	*doc_r = doc;
	return 0;
}

static bool xml_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->name != NULL &&
	       strcmp((const char *)n->name, name) == 0;
}

xmlNodePtr xml_child(xmlNodePtr node, const char *name)
{
	if (node == NULL)
		return NULL;
	for (xmlNodePtr c = node->children; c != NULL; c = c->next) {
		if (xml_is(c, name))
			return c;
	}
	return NULL;
}

xmlNodePtr xml_next(xmlNodePtr node, const char *name)
{
	if (node == NULL)
		return NULL;
	for (xmlNodePtr c = node->next; c != NULL; c = c->next) {
		if (xml_is(c, name))
			return c;
	}
	return NULL;
}

char *xml_child_text(xmlNodePtr node, const char *name)
{
	xmlNodePtr c = xml_child(node, name);
	xmlChar *content;
	const char *s, *e;
	char *out;

	if (c == NULL)
		return NULL;
	content = xmlNodeGetContent(c);
	if (content == NULL)
		return xstrdup("");
	s = (const char *)content;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	out = xstrndup(s, (size_t)(e - s));
	xmlFree(content);
	return out;
}
