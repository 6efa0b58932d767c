export default function Home() {
  return (
    <main>
      <h1>fltr-credits example</h1>
      <p>
        <a href="/balance">Your balance</a>. <code>POST /api/documents</code> costs 5 credits.
      </p>
    </main>
  );
}
