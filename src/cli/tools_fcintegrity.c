/*
 * tools_fcintegrity.c - `flumen tools fcintegrity -l DIR[,DIR...]`, Flume's
 * `flume-ng tool FCINTEGRITYTOOL -l <dataDirs>`: verifies every record of a
 * stopped file channel's data files and removes corrupt ones (see
 * src/channels/file/integrity.c).  Runs on the main thread and exits.
 *
 * Exit status: 0 = everything valid; 1 = damage was found (and removed
 * unless --check-only); 2 = usage error or the check could not run (e.g. the
 * directories are in use by a running agent).
 */
#include "channels/file/fc.h"

#include "core/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void tools_usage(FILE *f)
{
    fprintf(f,
            "usage: flumen tools fcintegrity -l DATADIR[,DATADIR...] [--check-only]\n"
            "  (also: flumen tools FCINTEGRITYTOOL --dataDirs DIRS, as flume-ng tool)\n"
            "Verifies every record of a stopped file channel's data files; damaged\n"
            "records are replaced by NOOP records (or cut off at the end of a file) so\n"
            "the channel starts again.  Exit 0: all valid; 1: damage found; 2: error.\n");
}

/* Entry point for `flumen tools ...`: argv[0] is the tool name.  Returns
 * the process exit status. */
int flm_cmd_tools(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
        tools_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcasecmp(argv[0], "fcintegrity") != 0 && strcasecmp(argv[0], "fcintegritytool") != 0) {
        fprintf(stderr, "flumen tools: unknown tool '%s'\n", argv[0]);
        tools_usage(stderr);
        return 2;
    }
    const char *list = NULL;
    bool fix = true;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--dataDirs") == 0) && i + 1 < argc) {
            list = argv[++i];
        } else if (strcmp(argv[i], "--check-only") == 0) {
            fix = false;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            tools_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-e") == 0 || strcmp(argv[i], "--eventValidator") == 0) {
            fprintf(stderr, "flumen tools fcintegrity: -e/--eventValidator names a Java class; "
                            "event validators are not supported\n");
            return 2;
        } else {
            fprintf(stderr, "flumen tools fcintegrity: unexpected argument '%s'\n", argv[i]);
            tools_usage(stderr);
            return 2;
        }
    }
    if (list == NULL || list[0] == '\0') {
        fprintf(stderr, "flumen tools fcintegrity: -l/--dataDirs is required\n");
        tools_usage(stderr);
        return 2;
    }
    char *copy = strdup(list);
    if (copy == NULL)
        return 2;
    const char *dirs[64];
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && n < 64; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (*t)
            dirs[n++] = t;
    }
    size_t bad = 0;
    int rc = flm_fc_integrity(dirs, n, fix, stdout, &bad);
    free(copy);
    if (rc != FLM_OK)
        return 2;
    return bad ? 1 : 0;
}
