/** The app renders on the server at request time; nothing is exported statically. */
const config = {
  poweredByHeader: false,
  reactStrictMode: true,
};

export default config;
