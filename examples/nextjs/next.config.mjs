/** @type {import('next').NextConfig} */
const nextConfig = {
  // The example lives inside the fltr-credits repository; keep Turbopack's root here.
  turbopack: { root: import.meta.dirname },
};
export default nextConfig;
