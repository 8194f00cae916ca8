/* engine-folders.h: which source folders a migration copies, and where.
 *
 * Folder lists (a batch's --include-folder / --exclude-folder, stored in
 * store_batch_options as a JSON array of strings, e.g.
 * ["#Inbox#", "Projects/2024"]):
 *   - A path names a folder and all its subfolders: "Projects" matches
 *     "Projects" and "Projects/2024", not "Projects-old". Folder names are
 *     '/'-separated UTF-8 (driver.h); matching ignores ASCII case; a
 *     trailing "/" or "/" followed by "*" is allowed and means the same.
 *   - Exchange's well-known tokens name the folder with a special-use role
 *     (and its subfolders): #Inbox#, #SentItems#, #DeletedItems#,
 *     #JunkEmail#, #Drafts#, #Archive# (any case). A token may start a
 *     path: "#Inbox#/Work". Other "#...#" tokens are refused.
 *   - No include list means every folder. Exclusion wins over inclusion.
 *
 * Mapping (engine_plan_build): a source folder with a special-use role
 * (RFC 6154; the IMAP driver also recognises well-known names) goes to the
 * target's own folder for that role (mailbox_driver.role_folder), and its
 * subfolders go beneath it ("Sent/2023" -> "Sent Items/2023"); only the
 * first source folder of each role is mapped so. Other folders keep their
 * names. A \Noselect source folder is created on the target as a plain
 * folder only when a folder beneath it is copied; it has no messages.
 */
#ifndef MF_ENGINE_FOLDERS_H
#define MF_ENGINE_FOLDERS_H

#include <stdbool.h>
#include <stddef.h>

#include "drivers/driver.h"
#include "util/mf-error.h"

struct engine_filter {
	char **include; /* owned; normalised patterns */
	size_t ninclude;
	char **exclude; /* owned */
	size_t nexclude;
};

/* Check one pattern: 0, or MF_EINVAL naming it ("unknown folder token
 * #Calendar# (known: #Inbox#, ...)", "empty folder name"). For the CLI, to
 * refuse bad options before a batch is stored. */
int engine_folder_pattern_check(const char *pattern, struct mf_error *err);

/* Parse the JSON arrays (either may be NULL or "": no list). Returns 0, or
 * MF_EINVAL naming the problem ("--exclude-folder: ..."). On failure *f is
 * left empty. */
int engine_filter_parse(const char *include_json, const char *exclude_json, struct engine_filter *f,
			struct mf_error *err);
void engine_filter_clear(struct engine_filter *f);

/* One folder to create on the target (and to copy unless noselect). */
struct engine_folder_plan {
	char *source; /* owned: source name */
	char *target; /* owned: target name */
	enum mbx_role role;
	bool subscribed;
	bool noselect; /* create only */
};

struct engine_plan {
	struct engine_folder_plan *folders; /* source listing order: parents first */
	size_t count;
};

/* Choose and map the source folders src through filter f onto the target
 * tgt (only its role_folder is called). Always succeeds. */
void engine_plan_build(const struct engine_filter *f, const struct mbx_folder_list *src,
		       struct mbx *tgt, struct engine_plan *out);
void engine_plan_clear(struct engine_plan *p);

/* Whether folder (with its role; rolemap gives each role's source folder
 * name, or NULL) matches pattern. Exposed for tests. */
bool engine_folder_matches(const char *pattern, const char *folder,
			   const char *const rolemap[MBX_ROLE_FLAGGED + 1]);

#endif
