#include "drivers/driver.h"

#include <stdlib.h>
#include <string.h>

void mbx_folder_list_free(struct mbx_folder_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->folders[i].name);
	free(l->folders);
	l->folders = NULL;
	l->count = 0;
}

bool mbx_field_name_ok(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > 76)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}
