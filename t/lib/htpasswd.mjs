// htpasswd lines in every format edge-auth reads, made by the usual tools:
//
//   htpasswdLine('alice', 'pw', 'bcrypt')   // 'alice:$2y$05$...'
//   formats: bcrypt, bcrypt-2b, bcrypt-2a, apr1, sha, ssha, sha256crypt, sha512crypt, plain

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';

const tool = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' }).trim();

export function passwordHash(password, format, { cost = 5 } = {}) {
  switch (format) {
    case 'bcrypt':
    case 'bcrypt-2b':
    case 'bcrypt-2a': {
      const hash = tool('htpasswd', ['-nbB', '-C', String(cost), 'u', password]).split(':')[1];
      // Same algorithm; only the version tag differs for ASCII passwords.
      return format === 'bcrypt' ? hash : hash.replace(/^\$2y\$/, format === 'bcrypt-2b' ? '$2b$' : '$2a$');
    }
    case 'apr1':
      return tool('htpasswd', ['-nbm', 'u', password]).split(':')[1];
    case 'sha':
      return '{SHA}' + crypto.createHash('sha1').update(password, 'utf8').digest('base64');
    case 'ssha': {
      const salt = crypto.randomBytes(8);
      const digest = crypto.createHash('sha1').update(Buffer.from(password, 'utf8')).update(salt).digest();
      return '{SSHA}' + Buffer.concat([digest, salt]).toString('base64');
    }
    case 'sha256crypt':
      return tool('openssl', ['passwd', '-5', password]);
    case 'sha512crypt':
      return tool('openssl', ['passwd', '-6', password]);
    case 'plain':
      return password;
    default:
      throw new Error(`unknown htpasswd format ${format}`);
  }
}

export function htpasswdLine(user, password, format, opts) {
  return `${user}:${passwordHash(password, format, opts)}`;
}

export const sha256hex = (s) => crypto.createHash('sha256').update(s, 'utf8').digest('hex');
