/*
 * mbxfix: remediate Dynamics 365 mailboxes for Server-Side Synchronization
 * in bulk. The subcommand table; each command returns its exit status
 * (docs/design.md: 0 ok, 1 some rows failed, 2 usage/job/input, 3 could not
 * proceed).
 */
#include "compat.h"

#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/opensslv.h>

#include "cmds.h"
#include "jsonmem.h"
#include "log.h"
#include "version.h"

#include "banned.h"

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
    {"check", cmd_check, "offline: validate the job file and the input CSV"},
    {"diagnose", cmd_diagnose,
     "read-only: explain each mailbox's problems, write remediation rows"},
    {"help", cmd_help, "show this help"},
    {"logout", cmd_logout, "forget the job's device code sign-ins"},
    {"plan", cmd_plan,
     "read-only: resolve every row, report what run would change"},
    {"run", cmd_run, "apply the job"},
    {"version", cmd_version, "print versions of mbxfix and its libraries"},
};

static void usage(FILE *fp)
{
	fputs("usage: mbxfix <command> [options] JOB.cfg\n"
	      "       mbxfix --help | --version\n\ncommands:\n",
	      fp);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(fp, "  %-9s %s\n", cmds[i].name, cmds[i].help);
	fputs("\n'mbxfix <command> --help' shows the command's options.\n", fp);
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	(void)argc;
	(void)argv;
	printf("mbxfix %s\n", MBXFIX_VERSION);
	printf("libcurl %s (%s)\n", v->version,
	       v->ssl_version ? v->ssl_version : "no TLS");
	printf("cJSON %s\n", cJSON_Version());
	printf("%s\n", OPENSSL_VERSION_TEXT);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	log_init("mbxfix", LOG_WARN);
	json_mem_init();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version"))
		return cmd_version(argc - 1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fputs("mbxfix: cannot initialise libcurl\n", stderr);
			return 3;
		}
		rc = cmds[i].fn(argc - 1, argv + 1);
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "mbxfix: '%s' is not a command\n", argv[1]);
	usage(stderr);
	return 2;
}
