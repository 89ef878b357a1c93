import { render } from 'preact';
import { useState } from 'preact/hooks';
import { reauthentication, resume, session, signIn, signOut } from './auth';
import { AdminPage } from './pages/admin';
import { DevicePage } from './pages/device';
import { FilesPage } from './pages/files';
import { FleetPage } from './pages/fleet';
import { MapPage } from './pages/map';
import { useStore } from './store';
import { Boundary, Link, ProblemBox, navigate, route, useAction } from './ui';
import './styles.css';

function SignInForm(props: { user?: string; fixedUser?: boolean; onDone?: () => void }) {
  const [user, setUser] = useState(props.user ?? '');
  const [password, setPassword] = useState('');
  const action = useAction();
  return (
    <form
      class="signin"
      onSubmit={async (e) => {
        e.preventDefault();
        if (await action.run(() => signIn(user.trim(), password))) props.onDone?.();
      }}
    >
      <label>
        User
        <input name="user" autocomplete="username" value={user} readOnly={props.fixedUser} onInput={(e) => setUser(e.currentTarget.value)} required />
      </label>
      <label>
        Password
        <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
      </label>
      <button type="submit" class="primary" disabled={action.busy}>
        Sign in
      </button>
      <ProblemBox error={action.error} />
    </form>
  );
}

function SignInPage() {
  return (
    <main class="signin-page">
      <div class="card">
        <h1>M2M console</h1>
        <SignInForm />
      </div>
    </main>
  );
}

/** Shown over the page when the session expired and could not be refreshed: the page keeps its state. */
function ReauthDialog() {
  const pending = useStore(reauthentication);
  if (!pending) return null;
  return (
    <div class="overlay" data-testid="reauth">
      <div class="card dialog" role="dialog" aria-modal="true" aria-label="Sign in again">
        <h2>Sign in again</h2>
        <p>{pending.reason}</p>
        <SignInForm user={pending.user} fixedUser={false} />
        <button class="link" onClick={() => void signOut().then(() => location.assign('/'))}>
          Sign out instead
        </button>
      </div>
    </div>
  );
}

function Shell() {
  const current = useStore(session)!;
  const path = useStore(route).split('?')[0];
  const isAdmin = current.user.role === 'admin';
  let page;
  let m: RegExpMatchArray | null;
  if (path === '/' || path === '/fleet') page = <FleetPage />;
  else if (path === '/map') page = <MapPage />;
  else if ((m = path.match(/^\/devices\/([0-9a-fA-F-]{36})(?:\/([a-z]+))?$/))) page = <DevicePage id={m[1]} tab={m[2] ?? 'overview'} key={m[1]} />;
  else if (path === '/files') page = <FilesPage />;
  else if (path === '/admin') page = isAdmin ? <AdminPage /> : <ProblemBox error={{ name: 'forbidden', message: 'Administrators only.' }} />;
  else page = <ProblemBox error={new Error(`No page at ${path}.`)} />;
  const nav = (href: string, label: string, active: boolean) => (
    <Link href={href} class={active ? 'active' : ''} data-testid={`nav-${label.toLowerCase()}`}>
      {label}
    </Link>
  );
  return (
    <>
      <header class="top">
        <span class="brand">M2M</span>
        <nav>
          {nav('/fleet', 'Fleet', path === '/' || path === '/fleet' || path.startsWith('/devices'))}
          {nav('/map', 'Map', path === '/map')}
          {nav('/files', 'Files', path === '/files')}
          {isAdmin && nav('/admin', 'Admin', path === '/admin')}
        </nav>
        <span class="spacer" />
        <span class="who" data-testid="who">
          {current.user.name} <span class="muted">({current.user.role})</span>
        </span>
        <button
          class="link"
          data-testid="sign-out"
          onClick={async () => {
            await signOut();
            navigate('/', true);
          }}
        >
          Sign out
        </button>
      </header>
      <main class="content">
        <Boundary key={path}>{page}</Boundary>
      </main>
      <ReauthDialog />
    </>
  );
}

function App() {
  const current = useStore(session);
  return current ? <Shell /> : <SignInPage />;
}

void resume().finally(() => render(<App />, document.getElementById('app')!));
