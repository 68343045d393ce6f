"""A real SMTP server for bandwatch's mail tests: aiosmtpd with STARTTLS (required) on one
port and implicit TLS on another, AUTH PLAIN/LOGIN required, each message saved as N.eml with
its envelope in N.env (mail from, rcpt tos, whether TLS and AUTH were used).

usage: python3 notify_aiosmtpd.py STARTTLS_PORT TLS_PORT CERT KEY OUT_DIR USER PASSWORD
Prints "ready" when both ports listen; runs until stdin closes."""
import os, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

starttls_port, tls_port, cert, key, out, user, password = sys.argv[1:8]
count = [0]

class Save:
    async def handle_DATA(self, server, session, envelope):
        count[0] += 1
        base = os.path.join(out, str(count[0]))
        with open(base + ".env.tmp", "w") as f:
            tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
            f.write("from %s\nto %s\ntls %s\nauth %s\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos),
                    tls, session.authenticated))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".env.tmp", base + ".env")
        return "250 OK"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() \
        and auth_data.password == password.encode()
    # handled=False: aiosmtpd then answers 535 itself.
    return AuthResult(success=ok, handled=False)

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
common = dict(authenticator=authenticator, auth_required=True)
a = Controller(Save(), hostname="127.0.0.1", port=int(starttls_port), server_hostname="localhost",
               tls_context=ctx, require_starttls=True, auth_require_tls=True, **common)
# aiosmtpd only counts STARTTLS as TLS for AUTH; this port is TLS from the first byte.
b = Controller(Save(), hostname="127.0.0.1", port=int(tls_port), server_hostname="localhost",
               ssl_context=ctx, auth_require_tls=False, **common)
a.start()
b.start()
print("ready", flush=True)
sys.stdin.read()
a.stop()
b.stop()
