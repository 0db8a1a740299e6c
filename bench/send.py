"""Launch-to-last-delivery throughput of an email campaign, through real RQ workers.

    python bench/send.py [--quick] [--workers 2] [--profiles N]

Given N profiles (COPY'd in) in one segment, a campaign is launched (set-based INSERT …
SELECT of its deliveries) and W `rqworker` processes send it over SMTP to a sink process
until the last delivery is logged. Repeated (median reported). --quick: 20,000; full: 100,000.
The sink is Postfix's `smtp-sink` (Debian's postfix package), run as its own process with
`-u nobody`; without it, an aiosmtpd sink process stands in (slower: it may be the limit).
Floor: the same messages (multipart text + HTML, personalized, Message-ID and Date) built with
the standard library's compat32 MIME classes and sent to the same sink by a plain loop over
one connection, without Django or the database (median of 3).
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import smtplib
import subprocess
import sys
import time
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate

import psutil
from harness import ROOT, bench_environment, django_setup, free_port, median, report

SUBJECT = ("Hello {{ profile.first_name | default: 'there' }}, "
           "your {{ profile.attributes.plan }} plan")
HTML = ("<h1>Hello {{ profile.first_name | default: 'there' }}</h1>"
        "<p>Thanks for being on the {{ profile.attributes.plan }} plan.</p>" * 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--profiles", type=int)
    parser.add_argument("--repeats", type=int)
    args = parser.parse_args()
    n = args.profiles or (20_000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 3)

    with bench_environment("send") as env:
        django_setup()
        port = free_port()
        sink, sink_name = _start_sink(port)
        env["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
        try:
            _copy_profiles(n)
            floor = median(_floor(port, min(n, 20_000)) for _ in range(3))
            print(f"floor: {floor:,.0f} msgs/s (stdlib compat32 MIME, one SMTP connection, "
                  f"{sink_name})")
            builds = _build_rates(3_000)
            print("message build alone, in this process: " + ", ".join(
                f"{name} {rate:,.0f} msgs/s" for name, rate in builds.items()))
            runs = [_run_once(env, args.workers, n, i) for i in range(repeats)]
        finally:
            sink.terminate()
            sink.wait(10)
    rates = [r["rate"] for r in runs]
    rss = max(r["peak_rss_mb"] for r in runs)
    print(f"itinera: median {median(rates):,.0f} msgs/s over {repeats} run(s) of {n:,}; "
          f"worker peak RSS {rss:.0f} MB")
    report("send", median(rates), "msgs/s", floor, n=n, workers=args.workers, repeats=repeats,
           sink=sink_name,
           launch_s=round(median(r["launch_s"] for r in runs), 2),
           total_s=round(median(r["total_s"] for r in runs), 1), peak_rss_mb=round(rss),
           worker_cpu_ms_per_msg=round(median(r["cpu_ms_per_msg"] for r in runs), 3),
           build_msgs_s={name: round(rate) for name, rate in builds.items()})


def _start_sink(port: int) -> tuple[subprocess.Popen, str]:
    smtp_sink = shutil.which("smtp-sink") or shutil.which("/usr/sbin/smtp-sink")
    if smtp_sink:
        # -u nobody: it refuses to run as root; 1000 = listen backlog.
        command, name = [smtp_sink, "-u", "nobody", f"127.0.0.1:{port}", "1000"], "smtp-sink"
    else:
        print("WARNING: Postfix's smtp-sink is missing (apt-get install postfix); using an "
              "aiosmtpd sink process, which is slower and may be what limits the figures.")
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                   "-l", f"127.0.0.1:{port}"]
        name = "aiosmtpd"
    sink = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603
    for _ in range(100):
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=1).quit()
            return sink, name
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the SMTP sink did not start")


def _copy_profiles(n: int) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY profiles_profile (external_id, email, phone, first_name, last_name, timezone,"
            " locale, attributes, created_at, updated_at) FROM STDIN"
        ) as copy:
            buffer = io.StringIO()
            for i in range(n):
                buffer.write(f"b{i}\tb{i}@example.com\t\tAda{i % 97}\tLovelace\tEurope/Paris\t"
                             f'fr-FR\t{{"plan": "pro"}}\t2026-01-01\t2026-01-01\n')
                if i % 50_000 == 49_999:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        cursor.execute("ANALYZE profiles_profile")
    print(f"copied {n:,} profiles in {time.perf_counter() - started:.1f}s")


def _floor(port: int, count: int) -> float:
    """Build and send `count` personalized multipart messages straight to the sink."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            name = f"Ada{i % 97}"
            message = MIMEMultipart("alternative")
            message["Subject"] = f"Hello {name}, your pro plan"
            message["From"] = "bench@example.com"
            message["To"] = f"b{i}@example.com"
            message["Date"] = formatdate(localtime=False)
            message["Message-ID"] = f"<floor-{i}@example.com>"
            html = (f"<h1>Hello {name}</h1>"
                    "<p>Thanks for being on the pro plan.</p>" * 3)
            text = f"Hello {name}\n\nThanks for being on the pro plan.\n" * 3
            message.attach(MIMEText(text, "plain", "utf-8"))
            message.attach(MIMEText(html, "html", "utf-8"))
            smtp.sendmail("bench@example.com", [f"b{i}@example.com"], message.as_bytes())
    return count / (time.perf_counter() - started)


def _build_rates(count: int) -> dict[str, float]:
    """Messages per second built to bytes (no sending) the pipeline's way (channels.backends
    .mime, what the SMTP path sends) and Django's way (EmailMultiAlternatives, what any other
    email connection gets), with the headers a campaign email carries."""
    from django.core.mail import EmailMultiAlternatives

    from channels.backends.mime import MailParts, mime_bytes

    text = "Hello Ada\n\nThanks for being on the pro plan.\n" * 3
    html = "<h1>Hello Ada</h1>" + "<p>Thanks for being on the pro plan.</p>" * 3
    headers = {"List-Unsubscribe": "<https://itinera.example/u/x>, <mailto:u@itinera.example>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    def direct(i: int) -> bytes:
        return mime_bytes(MailParts(
            to=f"b{i}@example.com", from_email="Itinera <bench@example.com>",
            subject="Hello Ada, your pro plan", text=text, html=html,
            message_id=f"<delivery-{i}@example.com>", headers=headers))[1]

    def django(i: int) -> bytes:
        message = EmailMultiAlternatives(
            subject="Hello Ada, your pro plan", body=text, from_email="Itinera <bench@example.com>",
            to=[f"b{i}@example.com"], headers={"Message-ID": f"<delivery-{i}@example.com>",
                                               **headers})
        message.attach_alternative(html, "text/html")
        return message.message().as_bytes(linesep="\r\n")

    rates = {}
    for name, build in (("direct (mime.py)", direct), ("Django EmailMessage", django)):
        started = time.perf_counter()
        for i in range(count):
            build(i)
        rates[name] = count / (time.perf_counter() - started)
    return rates


def _run_once(env: dict, workers: int, n: int, index: int) -> dict:
    from django.utils import timezone

    from campaigns.jobs import enqueue_send
    from campaigns.models import Campaign, CampaignStatus
    from campaigns.services import campaign_launch, campaign_save
    from profiles.services import segment_save

    segment = segment_save(name=f"bench {index}", rules={
        "all": [{"field": "attributes.plan", "op": "equals", "value": "pro"}]})
    campaign = campaign_save(
        name=f"bench {index}", segment=segment, subject=SUBJECT, html_body=HTML
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.SCHEDULED, scheduled_at=timezone.now())
    cpu_before = _children_cpu_s()
    pool = [_start_worker(env) for _ in range(workers)]
    try:
        time.sleep(2)  # workers up before the clock starts
        started = time.perf_counter()
        campaign_launch(campaign_id=campaign.pk)
        launch_s = time.perf_counter() - started
        enqueue_send(campaign.steps.get().pk)
        peak = _wait_until_complete(campaign.pk, pool)
        total = time.perf_counter() - started
    finally:
        for worker in pool:
            worker.terminate()
        for worker in pool:
            worker.wait(30)
    # The workers have exited and been reaped here, each having reaped its work horses.
    cpu = _children_cpu_s() - cpu_before
    rate = n / total
    cpu_ms = 1000 * cpu / n
    print(f"run {index + 1}: launch {launch_s:.2f}s, {n:,} messages logged in {total:.1f}s "
          f"= {rate:,.0f} msgs/s, worker peak RSS {peak:.0f} MB, worker CPU {cpu_ms:.3f} ms "
          f"per message")
    return {"rate": rate, "launch_s": launch_s, "total_s": total, "peak_rss_mb": peak,
            "cpu_ms_per_msg": cpu_ms}


def _start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "rqworker", "send", "launch"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )


def _wait_until_complete(campaign_id: int, pool) -> float:
    from campaigns.models import Campaign, CampaignStatus

    peak = 0.0
    while True:
        peak = max(peak, sum(_rss_mb(w.pid) for w in pool) / len(pool))
        status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).get()
        if status == CampaignStatus.COMPLETED:
            return peak
        if any(w.poll() is not None for w in pool):
            raise RuntimeError("a worker died during the bench")
        time.sleep(0.2)


def _children_cpu_s() -> float:
    """CPU seconds (user + system) of this process's reaped children — the workers and, through
    them, their work horses: a figure a busy machine disturbs far less than the wall-clock
    rate (it includes the workers' 2-second start and their idle polling)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _rss_mb(pid: int) -> float:
    """Resident memory of a worker and the work-horse children it forks per job."""
    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
        return sum(p.memory_info().rss for p in family) / 2**20
    except psutil.NoSuchProcess:
        return 0.0


if __name__ == "__main__":
    main()
