#include "compat.h"

#include <string.h>

#include "banned.h"

static const char usage[] =
	"usage: mbxfix <command> [options] JOB.cfg\n"
	"\n"
	"commands:\n"
	"  run       apply the job\n"
	"  plan      read-only: report what run would change\n"
	"  check     offline: validate the job file and the input CSV\n"
	"  diagnose  read-only: explain each mailbox's problems\n";

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		puts("mbxfix 0.1.0");
		return 0;
	}
	fputs(usage, stderr);
	return 2;
}
