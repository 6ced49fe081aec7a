"""E-mail destinations over SMTP (aiosmtplib): plain-text alerts and digests, the server behind the address guard."""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from schemas import Alert, Digest
from streams.deliver.base import Destination, Outcome
from streams.deliver.digests import digest_heading
from streams.errors import BlockedAddress, InputError
from streams.http.guard import AddressGuard
from streams.text import evidence_parts, without_marks


def evidence_html(evidence: str) -> str:
    """The evidence for the HTML part: escaped, every matched term in bold."""
    return "".join(f"<b>{html.escape(text)}</b>" if marked else html.escape(text) for text, marked in evidence_parts(evidence))


def _link_html(url: str, title: str) -> str:
    if url.lower().startswith(("http://", "https://")):
        return f'<a href="{html.escape(url)}">{html.escape(title)}</a>'
    return html.escape(title)


@dataclass(frozen=True)
class SMTPSettings:
    """Where and how e-mail alerts are sent."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 20.0


def email_message(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    """A plain-text e-mail of an alert; headers are set through EmailMessage, which refuses CR/LF injection."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = " ".join(f"[wirewatch] {alert.kind}: {alert.entity_name} - {alert.title}".split())[:200]
    message["Message-ID"] = f"<{alert.id}@wirewatch>"
    sources = f"\nSources: {', '.join(alert.sources)} ({alert.source_count})" if alert.sources else ""
    footer = f"rule {alert.rule_id}, alert {alert.id}"
    # plain text cannot bold: the marks go (a reader would see them as typed); the HTML part bolds the matches
    message.set_content(f"{without_marks(alert.evidence)}\n\n{alert.title}\n{alert.url}{sources}\n\n{footer}\n")
    message.add_alternative(
        f"<p>{evidence_html(alert.evidence)}</p><p>{_link_html(alert.url, alert.title)}</p>"
        f"<p><small>{html.escape(sources.strip())}<br>{html.escape(footer)}</small></p>",
        subtype="html",
    )
    return message


def email_digest(digest: Digest, sender: str, recipients: list[str]) -> EmailMessage:
    """One plain-text e-mail listing a digest's alerts."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[wirewatch] {digest.period} digest: {digest_heading(digest)}"
    message["Message-ID"] = f"<{digest.id}@wirewatch>"
    blocks = [f"{alert.kind}: {alert.entity_name}\n{without_marks(alert.evidence)}\n{alert.title}\n{alert.url}".rstrip()
              for alert in digest.alerts]  # fmt: skip
    items = [f"<li><p><b>{html.escape(alert.entity_name)}</b> ({html.escape(alert.kind)})<br>{_link_html(alert.url, alert.title)}"
             f"<br>{evidence_html(alert.evidence)}</p></li>" for alert in digest.alerts]  # fmt: skip
    more = ""
    if digest.count > len(digest.alerts):
        more = f"... and {digest.count - len(digest.alerts)} more (wirewatch alerts)"
        blocks.append(more)
    message.set_content("\n\n".join(blocks) + f"\n\ndigest {digest.id}\n")
    # as Google Alerts' e-mail: each story a linked headline over its evidence, the matched terms in bold
    message.add_alternative(f"<ul>{''.join(items)}</ul><p>{html.escape(more)}</p><p><small>digest {html.escape(digest.id)}</small></p>",
                            subtype="html")  # fmt: skip
    return message


class EmailDestination(Destination):
    """E-mail over SMTP (aiosmtplib); the SMTP server's address passes the same guard as feeds and webhooks."""

    kind = "email"
    digests = True

    def __init__(self, recipients: list[str], smtp: SMTPSettings, guard: AddressGuard, **retry: float) -> None:
        if not recipients or not all("@" in r for r in recipients):
            raise InputError(f"e-mail destination: invalid recipients {recipients!r}")
        super().__init__(f"email {', '.join(recipients)}", **retry)  # type: ignore[arg-type]
        self.recipients = recipients
        self.smtp = smtp
        self.guard = guard

    async def _address(self) -> str:
        infos = await asyncio.get_running_loop().getaddrinfo(self.smtp.host, self.smtp.port, type=0)
        for info in infos:
            self.guard.check(str(info[4][0]), int(info[4][1]))
        return str(infos[0][4][0])

    async def attempt(self, alert: Alert) -> Outcome:
        return await self._mail(email_message(alert, self.smtp.sender, self.recipients))

    async def attempt_digest(self, digest: Digest) -> Outcome:
        return await self._mail(email_digest(digest, self.smtp.sender, self.recipients))

    async def _mail(self, message: EmailMessage) -> Outcome:
        try:
            address = await self._address()
        except BlockedAddress as exc:
            return Outcome("refused", f"SMTP server {self.smtp.host}: {exc}")
        except OSError as exc:
            return Outcome("retry", f"SMTP server {self.smtp.host}: {exc}")
        try:
            await aiosmtplib.send(
                message,
                # connect to the address the guard checked; with STARTTLS the certificate names the host, so the
                # name is used there (a resolver changing its answer within these milliseconds is the residual risk)
                hostname=self.smtp.host if self.smtp.starttls else address,
                port=self.smtp.port,
                username=self.smtp.username,
                password=self.smtp.password,
                start_tls=self.smtp.starttls,
                timeout=self.smtp.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return Outcome("refused", f"recipients refused: {exc}")
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome("refused" if 500 <= exc.code < 600 else "retry", f"SMTP {exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome("retry", f"{type(exc).__name__}: {exc}")
        return Outcome("ok")
