/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a fuzz target over files (a seed corpus, regression inputs) without
 * libFuzzer, so that make check replays them with any compiler and under
 * the sanitizers.  Prints "ok - NAME (N inputs)" and the summary line.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (!f) {
        return -1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;

    /* argv[1]: a name for the report; then directories of inputs. */
    for (int i = 2; i < argc; i++) {
        DIR *dir = opendir(argv[i]);
        struct dirent *e;
        int n = 0, bad = 0;
        char path[4096];

        while (dir && (e = readdir(dir))) {
            if (e->d_name[0] == '.') {
                continue;
            }
            snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
            if (run_file(path) < 0) {
                bad++;
            }
            n++;
        }
        if (dir) {
            closedir(dir);
        }
        /* A crash never gets here: the harness counts the exit status. */
        if (dir && bad == 0) {
            printf("ok - %s replays %s (%d inputs)\n", argv[1], argv[i], n);
            passed++;
        } else {
            printf("not ok - %s replays %s\n", argv[1], argv[i]);
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
