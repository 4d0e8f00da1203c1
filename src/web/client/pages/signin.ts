import { ApiError, type Session, signIn } from '../api.js';
import { h } from '../dom.js';

/** The sign-in form: a token is sent once, exchanged for a session cookie and never shown. */
export function signInPage(onSignedIn: (s: Session) => void): HTMLElement {
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'token-help',
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'signin-error' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin',
      'aria-labelledby': 'signin-title',
      on: {
        submit: async (e) => {
          e.preventDefault();
          error.textContent = '';
          button.disabled = true;
          try {
            const token = input.value.trim();
            const session = await signIn(token);
            input.value = '';
            onSignedIn(session);
          } catch (err) {
            error.textContent =
              err instanceof ApiError || err instanceof Error
                ? `Sign-in refused: ${err.message}`
                : 'Sign-in refused';
            input.select();
          } finally {
            button.disabled = false;
          }
        },
      },
    },
    h('h1', { id: 'signin-title' }, 'Sign in to Slipway'),
    h('label', { for: 'token' }, 'Token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'help' },
      'The admin token (in the data directory’s admin.token) or a personal access token with scope runs:read. It is exchanged for a session that ends when you sign out.',
    ),
    error,
    button,
  );
  return form;
}
