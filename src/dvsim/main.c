#include "compat.h"

#include "dv.h"

#include "banned.h"

int main(void)
{
	fputs("dvsim: not built yet\n", stderr);
	return 2;
}
