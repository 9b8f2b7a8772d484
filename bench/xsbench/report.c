/*
 * report.c - the results as a readable table, as JSON and as CSV.
 *
 * The table has one line per case: each server's op/s, the subject's
 * (first server's) p50/p99 latency and CPU per op, and the subject's rate
 * as a ratio to each other server (echo included).  JSON and CSV carry every
 * row with every number, for the driver (bench/run.py) to merge and compare.
 * Missing values are null in JSON and empty in CSV.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/xsbench/xsbench.h"

static bool same_case(const struct result *a, const struct result *b)
{
	return !strcmp(a->workload, b->workload) && !strcmp(a->name, b->name) &&
	       a->param == b->param;
}

static const struct result *find(const struct result *row, const char *srv)
{
	int i;

	for (i = 0; i < xb_nresults; i++)
		if (same_case(&xb_results[i], row) &&
		    !strcmp(xb_results[i].server, srv))
			return &xb_results[i];
	return NULL;
}

static void case_label(const struct result *r, char *buf, size_t sz)
{
	if (r->param >= 0)
		snprintf(buf, sz, "%s %s %ld", r->workload, r->name, r->param);
	else
		snprintf(buf, sz, "%s %s", r->workload, r->name);
}

void report_table(FILE *f, struct server *srv, int nsrv)
{
	const struct result *r, *o;
	char label[64];
	int i, j, k;

	fprintf(f, "\n%-24s", "case");
	for (j = 0; j < nsrv; j++)
		fprintf(f, " %10.10s", srv[j].name);
	fprintf(f, " %8s %8s %9s", "p50 us", "p99 us", "cpu us/op");
	for (j = 1; j < nsrv; j++)
		fprintf(f, "  /%-6.6s", srv[j].name);
	fprintf(f, "\n%-24s", "");
	for (j = 0; j < nsrv; j++)
		fprintf(f, " %10s", "op/s");
	fprintf(f, " %27s", srv[0].name);
	for (j = 1; j < nsrv; j++)
		fprintf(f, "  %-7s", "ratio");
	fputc('\n', f);
	for (i = 0; i < xb_nresults; i++) {
		r = &xb_results[i];
		for (k = 0; k < i && !same_case(&xb_results[k], r); k++)
			;
		if (k < i)
			continue; /* case already printed */
		case_label(r, label, sizeof(label));
		fprintf(f, "%-24.24s", label);
		for (j = 0; j < nsrv; j++) {
			o = find(r, srv[j].name);
			if (o && !isnan(o->ops_med))
				fprintf(f, " %10.0f", o->ops_med);
			else
				fprintf(f, " %10s", "-");
		}
		o = find(r, srv[0].name);
		if (o)
			fprintf(f, " %8.1f %8.1f", o->p50, o->p99);
		else
			fprintf(f, " %8s %8s", "-", "-");
		if (o && o->cpu_us >= 0)
			fprintf(f, " %9.2f", o->cpu_us);
		else
			fprintf(f, " %9s", "-");
		for (j = 1; j < nsrv; j++) {
			if (o && !isnan(o->ratio[j]))
				fprintf(f, "  %-7.3f", o->ratio[j]);
			else
				fprintf(f, "  %-7s", "-");
		}
		fputc('\n', f);
	}
}

static void json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v) || v < 0)
		fputs("null", f);
	else
		fprintf(f, "%.6g", v);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_row(FILE *f, const struct result *r, struct server *srv,
                     int nsrv)
{
	int j, first = 1;

	fputs("    {\"workload\": ", f);
	json_str(f, r->workload);
	fputs(", \"case\": ", f);
	json_str(f, r->name);
	fprintf(f, ", \"param\": %ld, \"unit\": ", r->param);
	json_str(f, r->unit);
	fputs(", \"server\": ", f);
	json_str(f, r->server);
	fputs(",\n     \"ops_per_s\": ", f);
	json_num(f, r->ops_med);
	fputs(", \"runs\": [", f);
	for (j = 0; j < r->nruns; j++) {
		fputs(j ? ", " : "", f);
		json_num(f, r->ops[j]);
	}
	fputs("], \"p50_us\": ", f);
	json_num(f, r->p50);
	fputs(", \"p99_us\": ", f);
	json_num(f, r->p99);
	fputs(", \"event_p50_us\": ", f);
	json_num(f, r->ev50);
	fputs(", \"event_p99_us\": ", f);
	json_num(f, r->ev99);
	fputs(", \"cpu_us_per_op\": ", f);
	json_num(f, r->cpu_us);
	fputs(",\n     \"ratio\": {", f);
	for (j = 0; j < nsrv; j++) {
		if (isnan(r->ratio[j]) || !strcmp(srv[j].name, r->server))
			continue;
		fprintf(f, "%s", first ? "" : ", ");
		first = 0;
		json_str(f, srv[j].name);
		fputs(": ", f);
		json_num(f, r->ratio[j]);
	}
	fputs("}, \"extra\": {", f);
	for (j = 0; j < r->nx; j++) {
		fputs(j ? ", " : "", f);
		json_str(f, r->xk[j]);
		fputs(": ", f);
		json_num(f, r->xv[j]);
	}
	fputs("}, \"note\": ", f);
	json_str(f, r->note);
	fputc('}', f);
}

int report_json(const char *path, struct server *srv, int nsrv)
{
	FILE *f = fopen(path, "w");
	struct utsname u;
	char date[64];
	time_t t = time(NULL);
	int i;

	if (!f)
		return -1;
	uname(&u);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S%z", localtime(&t));
	fprintf(f, "{\n  \"date\": \"%s\", \"host\": ", date);
	json_str(f, u.nodename);
	fprintf(f, ", \"cpus\": %ld, \"mode\": \"%s\",\n",
	        sysconf(_SC_NPROCESSORS_ONLN),
	        xb_opts.is_quick ? "quick" : "full");
	fprintf(f,
	        "  \"runs\": %d, \"secs_per_run\": %g, \"slice\": %g, "
	        "\"depth\": %d,\n  \"servers\": [",
	        xb_opts.runs, xb_opts.secs, xb_opts.slice, xb_opts.depth);
	for (i = 0; i < nsrv; i++) {
		fputs(i ? ", " : "", f);
		json_str(f, srv[i].name);
	}
	fputs("],\n  \"results\": [\n", f);
	for (i = 0; i < xb_nresults; i++) {
		json_row(f, &xb_results[i], srv, nsrv);
		fputs(i + 1 < xb_nresults ? ",\n" : "\n", f);
	}
	fputs("  ]\n}\n", f);
	return fclose(f) ? -1 : 0;
}

static void csv_num(FILE *f, double v)
{
	if (!isnan(v) && !isinf(v) && v >= 0)
		fprintf(f, "%.6g", v);
}

int report_csv(const char *path, struct server *srv, int nsrv)
{
	FILE *f = fopen(path, "w");
	const struct result *r;
	int i, j;

	if (!f)
		return -1;
	fputs("workload,case,param,unit,server,ops_per_s,p50_us,p99_us,"
	      "event_p50_us,event_p99_us",
	      f);
	for (j = 0; j < nsrv; j++)
		fprintf(f, ",ratio_%s", srv[j].name);
	/* New columns go last, so that readers by position keep working. */
	fputs(",extra,note,cpu_us_per_op\n", f);
	for (i = 0; i < xb_nresults; i++) {
		r = &xb_results[i];
		fprintf(f, "%s,%s,%ld,%s,%s,", r->workload, r->name, r->param,
		        r->unit, r->server);
		csv_num(f, r->ops_med);
		fputc(',', f);
		csv_num(f, r->p50);
		fputc(',', f);
		csv_num(f, r->p99);
		fputc(',', f);
		csv_num(f, r->ev50);
		fputc(',', f);
		csv_num(f, r->ev99);
		for (j = 0; j < nsrv; j++) {
			fputc(',', f);
			csv_num(f, r->ratio[j]);
		}
		fputc(',', f);
		for (j = 0; j < r->nx; j++)
			fprintf(f, "%s%s=%.6g", j ? ";" : "", r->xk[j],
			        r->xv[j]);
		fprintf(f, ",\"%s\",", r->note);
		csv_num(f, r->cpu_us);
		fputc('\n', f);
	}
	return fclose(f) ? -1 : 0;
}
