/* xml.h: parsing untrusted XML with libxml2, safely.
 *
 * No DTD is loaded or allowed: a document with a DOCTYPE is refused
 * (MF_EPROTO "XML with a DTD refused"), which also rules out entity
 * expansion (XXE, billion laughs). No network access (XML_PARSE_NONET),
 * entities are never substituted (no XML_PARSE_NOENT), and libxml2's
 * messages go to the error, not to stderr. Input over 1 MiB is refused.
 * Thread-safe: every call has its own parser context and error handler.
 */
#ifndef MF_XML_H
#define MF_XML_H

#include <stddef.h>

#include <libxml/tree.h>

#include "util/mf-error.h"

/* Parse data; returns 0 and *doc_r (free with xmlFreeDoc), or MF_EPROTO
 * ("malformed XML: <libxml2's message> (line N)", "XML with a DTD refused"),
 * MF_ELIMIT ("XML larger than 1 MiB refused"). CDATA sections come back
 * as plain text nodes; whitespace text is kept. */
int xml_parse_safe(const char *data, size_t len, xmlDocPtr *doc_r, struct mf_error *err);

/* First child element of node whose local name is name (any namespace),
 * or NULL. */
xmlNodePtr xml_child(xmlNodePtr node, const char *name);
/* Next sibling element after node with that local name, or NULL. */
xmlNodePtr xml_next(xmlNodePtr node, const char *name);
/* Text content of the first child element name, trimmed, malloc'd; NULL
 * when absent. node may be NULL (then NULL), and may be the document
 * ((xmlNodePtr)doc) for the root element in xml_child(). */
char *xml_child_text(xmlNodePtr node, const char *name);

#endif
