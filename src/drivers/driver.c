#include "drivers/driver.h"

#include <stdlib.h>

void mbx_folder_list_free(struct mbx_folder_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->folders[i].name);
	free(l->folders);
	l->folders = NULL;
	l->count = 0;
}
